//! Text measures shared by checks and metrics: word counts with CJK characters as words, and
//! case- and accent-insensitive matching.

use unicode_normalization::UnicodeNormalization;

/// Han and kana: scripts written without spaces, where each character counts as a word. Hangul is
/// not here because Korean puts spaces between words.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // hiragana, katakana
        | 0x31F0..=0x31FF    // katakana phonetic extensions
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0xFF66..=0xFF9F    // half-width katakana
        | 0x20000..=0x2FA1F  // CJK extensions B and later
    )
}

/// Words in `text`: runs of letters or digits (punctuation inside a run, as in "don't" or "3:30",
/// keeps it one word), plus one word per CJK character. Emoji and lone punctuation are not words.
pub fn count_words(text: &str) -> usize {
    let mut count = 0;
    let mut in_word = false;
    for c in text.chars() {
        if is_cjk(c) {
            count += 1;
            in_word = false;
        } else if c.is_alphanumeric() {
            if !in_word {
                count += 1;
                in_word = true;
            }
        } else if c.is_whitespace() {
            in_word = false;
        }
    }
    count
}

/// Lower-cased, accent-free, whitespace-collapsed form of `text` for matching: "Mañana  3 PM"
/// and "manana 3 pm" fold to the same string. Customers and models often drop accents (informal
/// Spanish and Vietnamese SMS), which should not fail a check.
pub fn fold(text: &str) -> String {
    let stripped = text
        .nfkd()
        // Only the Latin/Greek/Cyrillic combining diacritics: Japanese voicing marks and Hangul
        // jamo change the letter, not its accent.
        .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
        .map(|c| match c {
            'đ' | 'Đ' => 'd',
            other => other,
        })
        // Recompose so Hangul syllables match whole, not jamo by jamo.
        .nfc();
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in stripped {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// Whether `needle` occurs in an already folded `haystack`; an empty needle never matches.
pub fn contains_folded(haystack: &str, needle: &str) -> bool {
    let needle = fold(needle);
    !needle.is_empty() && haystack.contains(&needle)
}

/// Whether `word` occurs in an already folded `haystack` as a whole word ("Ana" not in
/// "Banana"); next to CJK characters any position is a boundary.
pub fn contains_word_folded(haystack: &str, word: &str) -> bool {
    let word = fold(word);
    if word.is_empty() {
        return false;
    }
    // Two letters join into one word unless either is CJK (written without spaces) or they
    // are of different scripts: "Sarah님" is the name and an honorific, "Banana" is not "Ana".
    let joined = |a: Option<char>, b: Option<char>| match (a, b) {
        (Some(a), Some(b)) => {
            a.is_alphanumeric()
                && b.is_alphanumeric()
                && !is_cjk(a)
                && !is_cjk(b)
                && a.is_ascii_alphanumeric() == b.is_ascii_alphanumeric()
        }
        _ => false,
    };
    haystack.match_indices(&word).any(|(start, m)| {
        let before = haystack[..start].chars().next_back();
        let after = haystack[start + m.len()..].chars().next();
        !joined(before, word.chars().next()) && !joined(word.chars().next_back(), after)
    })
}

/// ISO 639-1 code in canonical form: "EN-us" → "en"; blank → `None`.
pub fn normalize_language(code: &str) -> Option<String> {
    let base = code.trim().split(['-', '_']).next().unwrap_or_default();
    (!base.is_empty()).then(|| base.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_runs_of_letters_and_digits() {
        assert_eq!(count_words("Hi Ana, see you at 3:30 PM!"), 7);
        assert_eq!(count_words("don't   worry"), 2);
        assert_eq!(count_words("👍"), 0);
        assert_eq!(count_words(" — "), 0);
        assert_eq!(count_words(""), 0);
    }

    #[test]
    fn cjk_characters_count_as_words() {
        assert_eq!(count_words("明天下午三点"), 6);
        assert_eq!(count_words("好的 OK"), 3);
        assert_eq!(count_words("すみません"), 5);
        assert_eq!(count_words("AC坏了"), 3);
    }

    #[test]
    fn hangul_counts_by_spaces() {
        assert_eq!(count_words("내일 오후 세 시"), 4);
    }

    #[test]
    fn fold_ignores_case_accents_and_spacing() {
        assert_eq!(fold("Mañana  a las 3 PM"), "manana a las 3 pm");
        assert_eq!(fold("Thứ Ba, Đức"), "thu ba, duc");
        assert_eq!(fold("ÉTÉ"), "ete");
        assert_eq!(fold("  trim\tme \n"), "trim me");
    }

    #[test]
    fn fold_keeps_japanese_voicing_and_hangul_syllables() {
        assert_ne!(fold("が"), fold("か"));
        assert_eq!(fold("각"), "각");
        assert!(!contains_folded(&fold("각"), "가"));
    }

    #[test]
    fn contains_folded_matches_alternative_spellings() {
        let hay = fold("Nos vemos el MARTES a las 3 p.m.");
        assert!(contains_folded(&hay, "martes"));
        assert!(contains_folded(&hay, "3 P.M."));
        assert!(!contains_folded(&hay, ""));
        assert!(!contains_folded(&hay, "miércoles"));
    }

    #[test]
    fn word_match_needs_boundaries_except_next_to_cjk() {
        assert!(contains_word_folded(&fold("Hi Ana, thanks"), "ana"));
        assert!(!contains_word_folded(&fold("Banana bread"), "Ana"));
        assert!(contains_word_folded(&fold("Hola José!"), "Jose"));
        assert!(contains_word_folded(&fold("王先生您好"), "王"));
        assert!(contains_word_folded(&fold("Hi O'Brien"), "O'Brien"));
        assert!(contains_word_folded(&fold("Sarah님, 안녕하세요"), "Sarah"));
        assert!(!contains_word_folded(&fold("Ирины"), "Ирин"));
    }

    #[test]
    fn language_codes_normalize() {
        assert_eq!(normalize_language("EN-us").as_deref(), Some("en"));
        assert_eq!(normalize_language("zh_Hant").as_deref(), Some("zh"));
        assert_eq!(normalize_language("  "), None);
    }
}
