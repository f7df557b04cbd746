//! Stop sequences over streamed text: text that might be the start of a stop sequence is held
//! back until it is known not to be one.

pub struct StopMatcher {
    stops: Vec<String>,
    text: String,
    emitted: usize,
    stopped: bool,
}

impl StopMatcher {
    pub fn new(stops: Vec<String>) -> Self {
        Self {
            stops,
            text: String::new(),
            emitted: 0,
            stopped: false,
        }
    }

    /// Adds generated text; returns what can be emitted now and whether a stop sequence ended
    /// the generation (the stop sequence itself is never emitted).
    pub fn push(&mut self, piece: &str) -> (String, bool) {
        if self.stopped {
            return (String::new(), true);
        }
        // a stop sequence can only start in text not yet emitted
        let search_from = self.emitted;
        self.text.push_str(piece);
        let found = self
            .stops
            .iter()
            .filter_map(|s| {
                self.text[search_from..]
                    .find(s.as_str())
                    .map(|i| search_from + i)
            })
            .min();
        if let Some(at) = found {
            self.text.truncate(at);
            self.stopped = true;
            let out = self.text[self.emitted..].to_string();
            self.emitted = self.text.len();
            return (out, true);
        }
        let hold = self.held_back();
        let until = self.text.len() - hold;
        let out = self.text[self.emitted..until].to_string();
        self.emitted = until;
        (out, false)
    }

    /// Length of the longest tail of the text that is a proper prefix of some stop sequence.
    fn held_back(&self) -> usize {
        let tail = &self.text[self.emitted..];
        let mut best = 0;
        for s in &self.stops {
            for (i, _) in tail.char_indices() {
                let suffix = &tail[i..];
                if suffix.len() <= best {
                    break;
                }
                if s.starts_with(suffix) {
                    best = suffix.len();
                    break;
                }
            }
        }
        best
    }

    /// Text held back at the end of generation (it turned out not to be a stop sequence).
    pub fn finish(&mut self) -> String {
        let out = self.text[self.emitted..].to_string();
        self.emitted = self.text.len();
        out
    }

    /// Everything generated, without the stop sequence.
    pub fn text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (Vec<String>, String, bool) {
        let mut m = StopMatcher::new(stops.iter().map(|s| s.to_string()).collect());
        let mut out = Vec::new();
        let mut stopped = false;
        for p in pieces {
            let (e, s) = m.push(p);
            out.push(e);
            if s {
                stopped = true;
                break;
            }
        }
        if !stopped {
            out.push(m.finish());
        }
        (out, m.text().to_string(), stopped)
    }

    #[test]
    fn stop_sequence_split_across_tokens_is_not_emitted() {
        let (out, text, stopped) = run(&["\nCustomer:"], &["Sure", ".\n", "Cust", "omer:", " x"]);
        assert_eq!(out, ["Sure", ".", "", ""]);
        assert_eq!(text, "Sure.");
        assert!(stopped);
    }

    #[test]
    fn held_text_is_released_when_it_diverges() {
        let (out, text, stopped) = run(&["END"], &["a E", "N", "d"]);
        assert_eq!(out.concat(), "a ENd");
        assert_eq!(out[0], "a ");
        assert_eq!(text, "a ENd");
        assert!(!stopped);
    }

    #[test]
    fn multibyte_text_is_safe() {
        let (out, _, stopped) = run(&["ñ!"], &["año", "ñ", "!"]);
        assert_eq!(out.concat(), "año");
        assert!(stopped);
    }
}
