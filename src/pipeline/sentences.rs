//! Cutting a draft into sentences, in every supported script, for the repairs that add or
//! remove whole sentences.

/// Splits text into sentences, keeping each one's closing punctuation. CJK full stops end a
/// sentence on their own; Latin ones only before whitespace, so "$1.50" and "a.m." stay whole.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            push_trimmed(&mut out, &mut current);
            continue;
        }
        current.push(c);
        let ends = match c {
            '。' | '！' | '？' | '؟' => true,
            // "a.m. today": a full stop before a lower-case word ends an abbreviation.
            '.' | '!' | '?' => {
                let mut ahead = chars.clone();
                match ahead.next() {
                    None => true,
                    Some(n) if n.is_whitespace() => !ahead
                        .find(|n| !n.is_whitespace())
                        .is_some_and(char::is_lowercase),
                    Some(_) => false,
                }
            }
            _ => false,
        };
        if ends {
            push_trimmed(&mut out, &mut current);
        }
    }
    push_trimmed(&mut out, &mut current);
    out
}

fn push_trimmed(out: &mut Vec<String>, current: &mut String) {
    let s = current.trim();
    if !s.is_empty() {
        out.push(s.to_string());
    }
    current.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_keep_prices_and_clock_abbreviations_whole() {
        assert_eq!(
            sentences("It is $1.50 at 10 a.m. today. See you!\nBest,\nDana"),
            vec!["It is $1.50 at 10 a.m. today.", "See you!", "Best,", "Dana"]
        );
        assert_eq!(
            sentences("好的。周四下午1点可以！"),
            vec!["好的。", "周四下午1点可以！"]
        );
    }
}
