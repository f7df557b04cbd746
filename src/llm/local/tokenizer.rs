//! The GGUF's own tokenizer: byte-level BPE built from its metadata, plus an exact byte-level
//! decoder for streaming text out token by token.

use candle_core::quantized::gguf_file;
use candle_core::quantized::tokenizer::TokenizerFromGguf;
use tokenizers_gguf::pre_tokenizers::byte_level::ByteLevel;
use tokenizers_gguf::pre_tokenizers::digits::Digits;
use tokenizers_gguf::pre_tokenizers::sequence::Sequence;
use tokenizers_gguf::Tokenizer;

use crate::llm::LlmError;

/// Encoder/decoder for one model.
pub struct GgufTokenizer {
    inner: Tokenizer,
    /// Raw bytes of every token id, for exact incremental decoding.
    bytes: Vec<Vec<u8>>,
    /// Ids that end generation (EOS, `<|im_end|>`, `<|endoftext|>`).
    pub stop_ids: Vec<u32>,
    pub bos_id: Option<u32>,
    pub add_bos: bool,
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
}

fn meta_u32(ct: &gguf_file::Content, key: &str) -> Option<u32> {
    ct.metadata.get(key).and_then(|v| v.to_u32().ok())
}

impl GgufTokenizer {
    pub fn from_gguf(ct: &gguf_file::Content) -> Result<Self, LlmError> {
        let mut inner = Tokenizer::from_gguf(ct)
            .map_err(|e| LlmError::Backend(format!("tokenizer from gguf: {e}")))?;
        let pre = ct
            .metadata
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        if pre == "smollm" {
            // candle falls back to GPT-2's byte-level pre-tokenizer, whose prefix space shifts
            // every id; SmolLM2's own tokenizer.json splits digits and adds no prefix space.
            inner.with_pre_tokenizer(Some(Sequence::new(vec![
                Digits::new(true).into(),
                ByteLevel::new(false, true, true).into(),
            ])));
        }
        let tokens = ct
            .metadata
            .get("tokenizer.ggml.tokens")
            .and_then(|v| v.to_vec().ok())
            .ok_or_else(|| LlmError::Backend("gguf has no tokenizer.ggml.tokens".into()))?;
        let types: Vec<u32> = ct
            .metadata
            .get("tokenizer.ggml.token_type")
            .and_then(|v| v.to_vec().ok())
            .map(|v| v.iter().map(|t| t.to_i32().unwrap_or(1) as u32).collect())
            .unwrap_or_default();
        let byte_of = unicode_to_byte();
        let mut strings = Vec::with_capacity(tokens.len());
        let mut bytes = Vec::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            let s = t.to_string().map(|s| s.as_str()).unwrap_or("");
            strings.push(s.to_string());
            // Control / user-defined tokens (types 3 and 4) are literal text; normal ones are
            // byte-level encoded.
            let literal = matches!(types.get(i), Some(3) | Some(4));
            let b = if literal {
                s.as_bytes().to_vec()
            } else {
                s.chars()
                    .map(|c| byte_of(c).unwrap_or(b'?'))
                    .collect::<Vec<u8>>()
            };
            bytes.push(b);
        }
        let eos_id = meta_u32(ct, "tokenizer.ggml.eos_token_id");
        let bos_id = meta_u32(ct, "tokenizer.ggml.bos_token_id");
        let mut stop_ids: Vec<u32> = eos_id.into_iter().collect();
        for name in ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>"] {
            if let Some(id) = strings.iter().position(|s| s == name) {
                stop_ids.push(id as u32);
            }
        }
        stop_ids.sort_unstable();
        stop_ids.dedup();
        let add_bos = ct
            .metadata
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(false);
        let name_of = |id: Option<u32>| id.and_then(|i| strings.get(i as usize)).cloned();
        Ok(Self {
            inner,
            bos_token: name_of(bos_id),
            eos_token: name_of(eos_id),
            bytes,
            stop_ids,
            bos_id,
            add_bos,
        })
    }

    /// Ids for `text`; special tokens written in the text (`<|im_start|>`) become their ids.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| LlmError::Backend(format!("tokenize: {e}")))?;
        let mut ids = enc.get_ids().to_vec();
        if self.add_bos {
            if let Some(bos) = self.bos_id {
                if ids.first() != Some(&bos) {
                    ids.insert(0, bos);
                }
            }
        }
        Ok(ids)
    }

    /// Raw bytes of one token (may be part of a UTF-8 character).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.bytes
            .get(id as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Text of a whole id sequence.
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids
            .iter()
            .flat_map(|&i| self.token_bytes(i))
            .copied()
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub fn vocab_size(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_stop(&self, id: u32) -> bool {
        self.stop_ids.contains(&id)
    }
}

/// GPT-2's byte-level alphabet, inverted: printable bytes stand for themselves, the rest were
/// shifted to U+0100.. in byte order.
fn unicode_to_byte() -> impl Fn(char) -> Option<u8> {
    let mut table = [0u8; 512];
    let mut known = [false; 512];
    let mut shifted = 0u32;
    for b in 0u32..256 {
        let printable =
            (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        let c = if printable {
            b
        } else {
            shifted += 1;
            255 + shifted
        };
        table[c as usize] = b as u8;
        known[c as usize] = true;
    }
    move |c: char| {
        let i = c as usize;
        (i < 512 && known[i]).then(|| table[i])
    }
}

/// Turns a stream of token ids into UTF-8 text pieces, holding back bytes of a character that
/// is split across tokens.
#[derive(Default)]
pub struct TextStream {
    pending: Vec<u8>,
}

impl TextStream {
    /// The text that became complete with this token (possibly empty).
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        match std::str::from_utf8(&self.pending) {
            Ok(s) => {
                let out = s.to_string();
                self.pending.clear();
                out
            }
            Err(e) => {
                let valid = e.valid_up_to();
                // an invalid byte (not just an unfinished character) is replaced, not held
                // forever
                if e.error_len().is_some() {
                    let out = String::from_utf8_lossy(&self.pending).into_owned();
                    self.pending.clear();
                    return out;
                }
                let out = String::from_utf8_lossy(&self.pending[..valid]).into_owned();
                self.pending.drain(..valid);
                out
            }
        }
    }

    /// Whatever is left at the end.
    pub fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_alphabet_round_trips_every_byte() {
        let f = unicode_to_byte();
        assert_eq!(f('A'), Some(b'A'));
        assert_eq!(f('\u{120}'), Some(b' '));
        assert_eq!(f('\u{10a}'), Some(b'\n'));
        let mut seen = std::collections::HashSet::new();
        for c in (0u32..512).filter_map(char::from_u32) {
            if let Some(b) = f(c) {
                seen.insert(b);
            }
        }
        assert_eq!(seen.len(), 256);
    }

    #[test]
    fn text_stream_holds_back_a_split_character() {
        let mut s = TextStream::default();
        let bytes = "né".as_bytes();
        assert_eq!(s.push(&bytes[..2]), "n");
        assert_eq!(s.push(&bytes[2..]), "é");
        assert_eq!(s.push(&[0xF0, 0x9F]), "");
        assert_eq!(s.push(&[0x98, 0x80]), "😀");
        assert_eq!(s.push(&[0xE2]), "");
        assert_eq!(s.finish(), "\u{FFFD}");
    }
}
