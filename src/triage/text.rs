//! Text preparation shared by every triage stage: cap, clean, strip quoted replies, fold, tokenise.
//!
//! Everything here is total: any `&str` (empty, 1 MB, binary junk, RTL and zero-width marks)
//! yields a `Prepared` without panicking.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Bytes of raw input considered at all; the rest of a huge message cannot change its triage.
pub const MAX_INPUT_BYTES: usize = 16 * 1024;
/// Characters of cleaned body that are featurised; long emails say what they want early.
pub const MAX_BODY_CHARS: usize = 1_500;

/// One token of the folded text.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// Lower-cased, diacritics-folded text.
    pub text: String,
    /// A single Han/Kana character (scripts written without spaces).
    pub cjk: bool,
    /// Index of the sentence (split on . ! ? ; newlines and CJK stops) the token is in.
    pub sentence: u32,
    /// Index of the clause (sentences further split on commas): negation does not cross it.
    pub clause: u32,
}

/// A message ready for the classifier, the rules and the language detector.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// Cleaned body in its original case and accents (quotes and signatures removed).
    pub body: String,
    /// Lower-cased body with Latin diacritics and Arabic vowel marks folded away.
    pub folded: String,
    /// Lower-cased body, accents kept.
    pub lower: String,
    pub tokens: Vec<Token>,
}

impl Prepared {
    /// Tokens joined without separators, with the token index of each byte's token, for
    /// substring matching in scripts without reliable spaces (CJK, Hangul, Arabic).
    pub fn compact(&self) -> (String, Vec<usize>) {
        let mut s = String::new();
        let mut owner = Vec::new();
        for (i, t) in self.tokens.iter().enumerate() {
            s.push_str(&t.text);
            owner.extend(std::iter::repeat_n(i, t.text.len()));
        }
        (s, owner)
    }

    /// Number of words, counting two Han/Kana characters as one word.
    pub fn word_count(&self) -> usize {
        let cjk = self.tokens.iter().filter(|t| t.cjk).count();
        let words = self
            .tokens
            .iter()
            .filter(|t| !t.cjk && t.text.chars().any(char::is_alphabetic))
            .count();
        words + cjk.div_ceil(2)
    }
}

/// Prepares raw text: cap, drop quoted replies and signatures, clean, fold and tokenise.
pub fn prepare(raw: &str) -> Prepared {
    let capped = truncate_bytes(raw, MAX_INPUT_BYTES);
    let stripped = strip_quotes_and_signature(capped);
    let cleaned = clean(&stripped);
    let body: String = cleaned.chars().take(MAX_BODY_CHARS).collect();
    let lower = fix_homoglyphs(&body.nfkc().collect::<String>().to_lowercase());
    let folded = fold(&lower);
    let tokens = tokenize(&folded);
    Prepared {
        body,
        folded,
        lower,
        tokens,
    }
}

/// Longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Lines that start the quoted history of an email: everything from them on is someone else's.
fn starts_quoted_history(line: &str) -> bool {
    let l = line.trim().to_lowercase();
    if l.starts_with("-----original message")
        || l.starts_with("from:") && l.contains('@')
        || l.starts_with("de:") && l.contains('@')
        || l.starts_with("-- ")
        || l == "--"
    {
        return true;
    }
    let wrote = [
        "wrote:",
        "escribió:",
        "escribio:",
        "a écrit :",
        "a écrit:",
        "escreveu:",
        "написал:",
        "написала:",
        "写道：",
        "写道:",
        "작성:",
        "كتب:",
        "viết:",
        "sumulat:",
    ];
    let opener = ["on ", "el ", "le ", "em ", "vào ", "noong ", "于", "在"];
    (wrote.iter().any(|w| l.ends_with(w))
        && (opener.iter().any(|o| l.starts_with(o)) || l.len() < 120))
        || l.starts_with("sent from my")
        || l.starts_with("enviado desde mi")
        || l.starts_with("enviado do meu")
        || l.starts_with("envoyé de mon")
        || l.starts_with("отправлено с")
        || l.starts_with("get outlook for")
}

/// Removes quoted reply history (`>` lines, "On … wrote:" and below) and mail-client footers.
/// Falls back to the original when stripping would leave nothing.
pub fn strip_quotes_and_signature(s: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for line in s.lines() {
        if starts_quoted_history(line) {
            break;
        }
        if line.trim_start().starts_with('>') {
            continue;
        }
        kept.push(line);
    }
    let out = kept.join("\n");
    if out.trim().is_empty() {
        s.to_string()
    } else {
        out
    }
}

/// Drops invisible format characters (zero-width, bidi marks, BOM) and turns control characters
/// into spaces, so "ga\u{200b}s" reads as "gas".
fn clean(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
            | '\u{00ad}'
            | '\u{061c}' => None,
            '\n' => Some('\n'),
            c if c.is_control() => Some(' '),
            c => Some(c),
        })
        .collect()
}

fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
        || ('\u{00c0}'..='\u{024f}').contains(&c)
        || ('\u{1e00}'..='\u{1eff}').contains(&c)
}

/// Cyrillic/Greek look-alikes used inside otherwise Latin words ("gаs" with a Cyrillic а) are
/// mapped to Latin; genuine Russian words (no Latin letters) are left alone.
fn fix_homoglyphs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, word) in s.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let latin = word.chars().filter(|c| c.is_ascii_alphabetic()).count();
        let other = word
            .chars()
            .filter(|c| ('\u{0370}'..='\u{04ff}').contains(c))
            .count();
        if latin > 0 && other > 0 && latin >= other {
            out.extend(word.chars().map(homoglyph_to_latin));
        } else {
            out.push_str(word);
        }
    }
    out
}

fn homoglyph_to_latin(c: char) -> char {
    match c {
        'а' | 'α' => 'a',
        'е' | 'ε' => 'e',
        'о' | 'ο' => 'o',
        'р' | 'ρ' => 'p',
        'с' => 'c',
        'у' => 'y',
        'х' | 'χ' => 'x',
        'і' | 'ι' => 'i',
        'ѕ' => 's',
        'ј' => 'j',
        'к' | 'κ' => 'k',
        'м' => 'm',
        'т' | 'τ' => 't',
        'в' => 'b',
        'н' | 'η' => 'h',
        'ν' => 'v',
        other => other,
    }
}

/// Folds what customers often leave out: Latin diacritics ("calefacción" → "calefaccion",
/// "mùi" → "mui"), Arabic vowel marks and alef variants, Russian ё.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            'đ' => out.push('d'),
            'ø' => out.push('o'),
            'ł' => out.push('l'),
            'ß' => out.push_str("ss"),
            'æ' => out.push_str("ae"),
            'œ' => out.push_str("oe"),
            'ё' => out.push('е'),
            '\u{064b}'..='\u{065f}' | '\u{0670}' | '\u{0640}' => {}
            'آ' | 'أ' | 'إ' | 'ٱ' => out.push('ا'),
            'ى' => out.push('ي'),
            'ة' => out.push('ه'),
            '’' | 'ʼ' | '`' => out.push('\''),
            c if is_latin_letter(c) && !c.is_ascii() => {
                out.extend(c.to_string().nfd().filter(|m| !is_combining_mark(*m)));
            }
            c => out.push(c),
        }
    }
    out
}

/// Han ideographs and Japanese kana: scripts written without spaces, tokenised per character.
pub fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30ff}'
        | '\u{3400}'..='\u{4dbf}'
        | '\u{4e00}'..='\u{9fff}'
        | '\u{f900}'..='\u{faff}'
        | '\u{20000}'..='\u{2a6df}')
}

fn ends_sentence(c: char) -> bool {
    matches!(
        c,
        '.' | '!' | '?' | ';' | '\n' | '。' | '！' | '？' | '；' | '؟' | '…'
    )
}

/// Splits folded text into word tokens (letters and digits; "a/c" and apostrophes joined) and
/// single CJK characters, numbering sentences as it goes.
pub fn tokenize(folded: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let mut sentence = 0u32;
    let mut clause = 0u32;
    let mut pending_break = false;
    let mut pending_clause = false;
    let chars: Vec<char> = folded.chars().collect();
    let flush = |cur: &mut String, tokens: &mut Vec<Token>, sentence: u32, clause: u32| {
        if !cur.is_empty() {
            tokens.push(Token {
                text: std::mem::take(cur),
                cjk: false,
                sentence,
                clause,
            });
        }
    };
    for (i, &c) in chars.iter().enumerate() {
        if is_cjk(c) || c.is_alphanumeric() || is_combining_mark(c) {
            if is_cjk(c) {
                flush(&mut cur, &mut tokens, sentence, clause);
            }
            if cur.is_empty() {
                if pending_break {
                    sentence += 1;
                    clause += 1;
                } else if pending_clause {
                    clause += 1;
                }
                pending_break = false;
                pending_clause = false;
            }
            if is_cjk(c) {
                tokens.push(Token {
                    text: c.to_string(),
                    cjk: true,
                    sentence,
                    clause,
                });
            } else {
                cur.push(c);
            }
        } else if (c == '\'' || c == '/')
            && !cur.is_empty()
            && chars
                .get(i + 1)
                .is_some_and(|n| n.is_alphabetic() && !is_cjk(*n))
            && (c == '\'' || cur.chars().count() == 1)
        {
            // "don't" → "dont", "a/c" → "ac": keep the word whole.
        } else {
            flush(&mut cur, &mut tokens, sentence, clause);
            // A decimal point or "5.30" is not a sentence end.
            let between_digits = c == '.'
                && i > 0
                && chars[i - 1].is_ascii_digit()
                && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
            if ends_sentence(c) && !between_digits && !tokens.is_empty() {
                pending_break = true;
            }
            if matches!(c, ',' | '，' | '、' | '،' | ':' | '(' | ')') && !tokens.is_empty() {
                pending_clause = true;
            }
        }
    }
    flush(&mut cur, &mut tokens, sentence, clause);
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(p: &Prepared) -> Vec<&str> {
        p.tokens.iter().map(|t| t.text.as_str()).collect()
    }

    #[test]
    fn folds_accents_and_joins_contractions() {
        let p = prepare("No tenemos calefacción, it's ¡URGENTE! My A/C");
        assert_eq!(
            texts(&p),
            ["no", "tenemos", "calefaccion", "its", "urgente", "my", "ac"]
        );
        assert_eq!(prepare("mùi gas rất nặng").folded, "mui gas rat nang");
    }

    #[test]
    fn cjk_is_split_per_character_and_sentences_counted() {
        let p = prepare("煤气味很重！请马上来");
        assert_eq!(p.tokens.len(), 9);
        assert!(p.tokens.iter().all(|t| t.cjk));
        assert_eq!(p.tokens[0].sentence, 0);
        assert_eq!(p.tokens[8].sentence, 1);
    }

    #[test]
    fn invisible_and_homoglyph_characters_do_not_hide_words() {
        let p = prepare("I smell g\u{200b}a\u{200d}s and gаs\u{202e}");
        assert_eq!(texts(&p), ["i", "smell", "gas", "and", "gas"]);
        // Real Russian stays Russian.
        assert_eq!(texts(&prepare("пахнет газом")), ["пахнет", "газом"]);
    }

    #[test]
    fn quoted_history_and_footers_are_dropped() {
        let s = "Can you come Friday?\n\nSent from my iPhone\n\nOn Mon, Bob wrote:\n> gas leak";
        assert_eq!(prepare(s).body.trim(), "Can you come Friday?");
        assert_eq!(prepare("> only quoted").body, "> only quoted");
    }

    #[test]
    fn never_panics_on_hostile_input() {
        let big = "é".repeat(1_000_000);
        let p = prepare(&big);
        assert!(p.body.chars().count() <= MAX_BODY_CHARS);
        let junk: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let _ = prepare(&junk);
        assert!(prepare("").tokens.is_empty());
        assert_eq!(prepare("\u{200f}\u{200e}").word_count(), 0);
    }

    #[test]
    fn decimals_do_not_split_sentences() {
        let p = prepare("it is 5.30 now");
        assert!(p.tokens.iter().all(|t| t.sentence == 0));
    }
}
