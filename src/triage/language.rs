//! Language identification (script shortcuts, then lingua) and a thread's sticky language.
//!
//! Scripts used by exactly one configured language decide alone (Hangul → ko, Kana → ja,
//! Cyrillic → ru, Arabic → ar, Devanagari → hi, Han → zh); Latin-script text goes to lingua
//! restricted to the configured Latin languages. Text too short to tell ("ok", "sí", "👍") is
//! undecidable: `None`.

use lingua::{IsoCode639_1, Language, LanguageDetectorBuilder};

use super::text::Prepared;
use super::TriageError;
use crate::domain::LanguageGuess;

/// The default configured languages (ISO 639-1): the customer languages plus a few cheap extras.
pub const DEFAULT_LANGUAGES: &[&str] = &[
    "en", "es", "vi", "zh", "tl", "ko", "fr", "pt", "ru", "ar", "de", "it", "ja", "hi",
];

/// Minimum words (two Han characters count as one) before a guess is made.
pub const MIN_WORDS: usize = 2;
/// Minimum letters in a Latin-script text before lingua is asked.
const MIN_LATIN_LETTERS: usize = 6;
/// Below this lingua confidence the text is called undecidable.
const MIN_CONFIDENCE: f64 = 0.35;

/// The writing system of a letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Script {
    Latin,
    Han,
    Kana,
    Hangul,
    Cyrillic,
    Arabic,
    Devanagari,
}

pub(crate) fn script_of(c: char) -> Option<Script> {
    match c {
        'a'..='z' | 'A'..='Z' | '\u{00c0}'..='\u{024f}' | '\u{1e00}'..='\u{1eff}' => {
            Some(Script::Latin)
        }
        '\u{3040}'..='\u{30ff}' => Some(Script::Kana),
        '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{f900}'..='\u{faff}' => {
            Some(Script::Han)
        }
        '\u{ac00}'..='\u{d7af}' | '\u{1100}'..='\u{11ff}' | '\u{3130}'..='\u{318f}' => {
            Some(Script::Hangul)
        }
        '\u{0400}'..='\u{04ff}' => Some(Script::Cyrillic),
        '\u{0600}'..='\u{06ff}' | '\u{0750}'..='\u{077f}' => Some(Script::Arabic),
        '\u{0900}'..='\u{097f}' => Some(Script::Devanagari),
        _ => None,
    }
}

/// Detects the language of messages over a configured set.
pub struct LanguageDetector {
    latin: Option<lingua::LanguageDetector>,
    configured: Vec<String>,
}

impl std::fmt::Debug for LanguageDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanguageDetector")
            .field("configured", &self.configured)
            .finish()
    }
}

fn lingua_language(code: &str) -> Option<Language> {
    let iso = code.parse::<IsoCode639_1>().ok()?;
    Language::all()
        .into_iter()
        .find(|l| l.iso_code_639_1() == iso)
}

fn code_of(l: Language) -> String {
    l.iso_code_639_1().to_string()
}

impl LanguageDetector {
    /// Builds a detector over ISO 639-1 codes; a code lingua was not built with is an error.
    pub fn new(codes: &[String]) -> Result<Self, TriageError> {
        let mut latin = Vec::new();
        for code in codes {
            let lang =
                lingua_language(code).ok_or_else(|| TriageError::UnknownLanguage(code.clone()))?;
            let uses_latin = !matches!(
                code.as_str(),
                "zh" | "ja"
                    | "ko"
                    | "ru"
                    | "ar"
                    | "hi"
                    | "uk"
                    | "be"
                    | "bg"
                    | "mk"
                    | "sr"
                    | "fa"
                    | "ur"
                    | "el"
                    | "he"
                    | "th"
            );
            if uses_latin {
                latin.push(lang);
            }
        }
        let latin = match latin.len() {
            0 => None,
            1 => None,
            _ => Some(LanguageDetectorBuilder::from_languages(&latin).build()),
        };
        Ok(LanguageDetector {
            latin,
            configured: codes.to_vec(),
        })
    }

    fn configured(&self, code: &str) -> bool {
        self.configured.iter().any(|c| c == code)
    }

    /// The language of a prepared message, or `None` when it is too short or unclear to tell.
    pub fn detect(&self, p: &Prepared) -> Option<LanguageGuess> {
        if p.word_count() < MIN_WORDS {
            return None;
        }
        let mut counts = [0usize; 7];
        for c in p.body.chars() {
            if let Some(s) = script_of(c) {
                counts[s as usize] += 1;
            }
        }
        let letters: usize = counts.iter().sum();
        if letters == 0 {
            return None;
        }
        let share = |s: Script| counts[s as usize] as f32 / letters as f32;
        // Han and Kana together are Japanese when any kana is present.
        let kana = counts[Script::Kana as usize];
        let han = counts[Script::Han as usize];
        let by_script = [
            (Script::Hangul, "ko"),
            (Script::Cyrillic, "ru"),
            (Script::Arabic, "ar"),
            (Script::Devanagari, "hi"),
        ];
        if kana > 0 && (kana + han) as f32 / letters as f32 >= 0.3 && self.configured("ja") {
            return Some(guess("ja", (kana + han) as f32 / letters as f32));
        }
        // CJK characters carry a word each, so a few among Latin "AC"/"gas" still decide.
        if han as f32 / letters as f32 >= 0.3 && self.configured("zh") {
            return Some(guess("zh", share(Script::Han).max(0.9)));
        }
        for (s, code) in by_script {
            if share(s) >= 0.4 && self.configured(code) {
                return Some(guess(code, share(s).max(0.9)));
            }
        }
        if counts[Script::Latin as usize] < MIN_LATIN_LETTERS {
            return None;
        }
        let latin_text: String = p
            .body
            .chars()
            .map(|c| {
                if matches!(script_of(c), Some(Script::Latin)) || c.is_whitespace() || c == '\'' {
                    c
                } else {
                    ' '
                }
            })
            .collect();
        let det = match &self.latin {
            Some(d) => d,
            None => {
                // A single Latin language configured: it is that one or nothing.
                return self
                    .configured
                    .iter()
                    .find(|c| lingua_language(c).is_some_and(|_| true))
                    .map(|c| guess(c, 0.5));
            }
        };
        // Vietnamese letters (ơ, ư, đ, ạ, ế…) appear in no other configured language.
        let vi_letters = p
            .body
            .chars()
            .filter(|c| {
                matches!(
                    c,
                    'ă' | 'Ă' | 'đ' | 'Đ' | 'ơ' | 'Ơ' | 'ư' | 'Ư' | '\u{1ea0}'..='\u{1ef9}'
                )
            })
            .count();
        if vi_letters >= 2 && self.configured("vi") {
            return Some(guess("vi", 0.95));
        }
        // Unaccented Vietnamese and Taglish fool n-gram models; their function words do not.
        if let Some(code) = function_word_vote(p) {
            if self.configured(code) {
                return Some(guess(code, 0.9));
            }
        }
        let values = det.compute_language_confidence_values(latin_text);
        let (lang, conf) = values.first().copied()?;
        if conf < MIN_CONFIDENCE {
            return None;
        }
        let code = code_of(lang);
        if let Some(other) = iberian_vote(p, &code) {
            if self.configured(other) {
                return Some(guess(other, conf as f32));
            }
        }
        Some(guess(&code, conf as f32))
    }
}

/// Function words nearly unique to Vietnamese among the configured Latin-script languages
/// (written without accents, as customers often do).
const VI_STRONG: &[&str] = &[
    "khong", "duoc", "dc", "roi", "nha", "giup", "voi", "nhe", "oi", "vay", "nhieu", "nguoi",
    "chua", "muon", "biet", "dum", "cua", "mot", "cai", "hom", "nay", "anh", "em", "bi", "hu",
    "nuoc", "ngay", "sua", "lanh", "dang", "het", "nhung", "khi", "nao", "gio", "hen", "lich",
    "tho", "xem", "goi", "lai", "cho", "ko", "minh", "duoi", "trong", "ngoai", "bao", "tien", "co",
    "mui", "dien", "nghe", "tieng", "phong", "bep", "dao", "don", "dep", "hoac", "rat", "yeu",
    "keu", "nong", "ket", "tuan", "lan", "dau", "hien", "trung", "nhan", "xin", "loi", "nham",
    "tinh", "nua", "thiet", "huy", "viec", "dot", "xuat", "khac", "phi", "kiem", "gom", "luon",
    "khoan", "ngan", "khoa", "xac", "sac", "giao", "cap", "nhat", "dia", "hop", "thi", "neu",
    "lam", "ben", "ca", "cam",
];
/// Short words Vietnamese shares with other languages: they add to a vote, never start one.
const VI_WEAK: &[&str] = &[
    "la", "de", "o", "se", "so", "tu", "ha", "ban", "chi", "hay", "va", "ra", "tai", "xe", "bat",
    "hang", "sang", "gan", "qua", "tang", "sao", "thu", "hai", "tre", "tam", "ngu", "cau", "cuc",
    "may", "toi", "sau", "truoc", "den",
];
const TL_WORDS: &[&str] = &[
    "po", "ang", "ng", "mga", "yung", "namin", "natin", "kami", "kayo", "lang", "naman", "niyo",
    "nyo", "ako", "hindi", "wala", "walang", "pwede", "puwede", "salamat", "nang", "kasi", "tapos",
    "talaga", "sana", "bukas", "ngayon", "kanina", "yun", "dito", "opo", "magkano", "sige", "ayaw",
    "sira", "nung", "ninyo", "paki", "pa", "ba", "sa", "na", "ko", "mo", "siya", "kayong", "ito",
    "din", "rin", "ulit", "lagi", "kahapon",
];
const PT_WORDS: &[&str] = &[
    "pra", "um", "uma", "voce", "voces", "vc", "vcs", "nao", "tem", "ta", "meu", "minha",
    "obrigado", "obrigada", "podem", "com", "do", "da", "na", "nos", "ate", "tambem", "muito",
    "ja", "ontem", "hoje", "amanha", "isso", "esse", "essa", "quanto", "e", "os", "desculpa",
    "errado", "mandar", "seguro", "mostra", "voces", "gente",
];
const ES_WORDS: &[&str] = &[
    "el", "los", "las", "un", "una", "por", "pero", "con", "mi", "tiene", "hay", "puede", "pueden",
    "gracias", "cuanto", "ya", "esta", "muy", "ayer", "hoy", "manana", "eso", "ese", "esa", "del",
    "al", "y", "usted", "ustedes", "porfa", "favor", "tengo", "quiero",
];

/// Votes for `vi` or `tl` when their function words make up a good share of the words.
fn function_word_vote(p: &Prepared) -> Option<&'static str> {
    let words = latin_words(p);
    if words.len() < 3 {
        return None;
    }
    let count = |list: &[&str]| words.iter().filter(|w| list.contains(w)).count();
    let (strong, weak, tl) = (count(VI_STRONG), count(VI_WEAK), count(TL_WORDS));
    let vi_share = (strong + weak) as f32 / words.len() as f32;
    let tl_share = tl as f32 / words.len() as f32;
    if strong >= 2 && vi_share >= 0.45 && vi_share > tl_share {
        Some("vi")
    } else if tl >= 2 && tl_share >= 0.25 && tl_share > vi_share {
        Some("tl")
    } else {
        None
    }
}

fn latin_words(p: &Prepared) -> Vec<&str> {
    p.tokens
        .iter()
        .filter(|t| !t.cjk && t.text.chars().any(char::is_alphabetic))
        .map(|t| t.text.as_str())
        .collect()
}

/// Spanish and Portuguese look alike to n-grams in short unaccented text; their function
/// words differ ("pra", "com", "não" against "para", "con", "no").
fn iberian_vote(p: &Prepared, lingua_says: &str) -> Option<&'static str> {
    let words = latin_words(p);
    let count = |list: &[&str]| words.iter().filter(|w| list.contains(w)).count();
    let (pt, es) = (count(PT_WORDS), count(ES_WORDS));
    match lingua_says {
        "es" if pt >= es + 2 => Some("pt"),
        "pt" if es >= pt + 2 => Some("es"),
        _ => None,
    }
}

fn guess(code: &str, confidence: f32) -> LanguageGuess {
    LanguageGuess {
        code: code.to_string(),
        confidence: (confidence * 1000.0).round() / 1000.0,
    }
}

/// A thread's sticky language, decided from its inbound messages with hysteresis: the first
/// decisive message sets it; switching needs two decisive messages in a row in the new language,
/// or one long confident one. Short or undecidable messages never change it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ThreadLanguage {
    current: Option<String>,
    challenger: Option<(String, u32)>,
}

/// A message counts toward the thread's language only with at least this many words.
pub const DECISIVE_WORDS: usize = 3;
const DECISIVE_CONFIDENCE: f32 = 0.6;
const LONG_WORDS: usize = 12;
const LONG_CONFIDENCE: f32 = 0.9;

impl ThreadLanguage {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts from a stored language (e.g. the thread's column).
    pub fn from_current(code: Option<String>) -> Self {
        ThreadLanguage {
            current: code,
            challenger: None,
        }
    }

    /// The thread's language so far.
    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// Feeds one inbound message (its word count and detected language); returns the thread's
    /// language after it.
    pub fn observe(&mut self, words: usize, guess: Option<&LanguageGuess>) -> Option<&str> {
        let Some(g) = guess else {
            return self.current();
        };
        if words < DECISIVE_WORDS || g.confidence < DECISIVE_CONFIDENCE {
            return self.current();
        }
        match &self.current {
            None => self.current = Some(g.code.clone()),
            Some(cur) if *cur == g.code => self.challenger = None,
            Some(_) => {
                let strong = words >= LONG_WORDS && g.confidence >= LONG_CONFIDENCE;
                let streak = match &self.challenger {
                    Some((code, n)) if *code == g.code => n + 1,
                    _ => 1,
                };
                if strong || streak >= 2 {
                    self.current = Some(g.code.clone());
                    self.challenger = None;
                } else {
                    self.challenger = Some((g.code.clone(), streak));
                }
            }
        }
        self.current()
    }
}

#[cfg(test)]
mod tests {
    use super::super::text::prepare;
    use super::*;

    fn detector() -> LanguageDetector {
        let codes: Vec<String> = DEFAULT_LANGUAGES.iter().map(|s| s.to_string()).collect();
        LanguageDetector::new(&codes).unwrap()
    }

    fn code(d: &LanguageDetector, text: &str) -> Option<String> {
        d.detect(&prepare(text)).map(|g| g.code)
    }

    #[test]
    fn detects_configured_languages() {
        let d = detector();
        let cases = [
            ("Can someone come look at my furnace this week?", "en"),
            ("hola cuanto por instalar un minisplit en un cuarto", "es"),
            (
                "may lanh nha em bi hu roi, anh toi coi giup em duoc khong",
                "vi",
            ),
            ("厨房里煤气味很重，请马上派人来", "zh"),
            ("pwede po ba kayong pumunta bukas ng umaga", "tl"),
            ("에어컨이 고장났어요 오늘 와주실 수 있나요", "ko"),
            ("bonjour, pouvez-vous passer demain pour la chaudière", "fr"),
            (
                "oi, vocês podem vir amanhã de manhã olhar o ar condicionado",
                "pt",
            ),
            ("здравствуйте, можно перенести визит на пятницу", "ru"),
            ("مرحبا، ممكن تبعتوا فني بكرا الصبح", "ar"),
        ];
        for (text, want) in cases {
            assert_eq!(code(&d, text).as_deref(), Some(want), "{text}");
        }
    }

    #[test]
    fn short_text_is_undecidable() {
        let d = detector();
        for text in ["ok", "sí", "👍", "", "   ", "12345", "gracias"] {
            assert_eq!(code(&d, text), None, "{text}");
        }
    }

    #[test]
    fn unknown_language_code_is_an_error() {
        let codes = vec!["en".to_string(), "xx".to_string()];
        assert!(matches!(
            LanguageDetector::new(&codes),
            Err(TriageError::UnknownLanguage(c)) if c == "xx"
        ));
    }

    #[test]
    fn one_short_message_never_flips_the_thread() {
        let es = LanguageGuess {
            code: "es".into(),
            confidence: 0.95,
        };
        let en = LanguageGuess {
            code: "en".into(),
            confidence: 0.8,
        };
        let mut t = ThreadLanguage::new();
        assert_eq!(t.observe(9, Some(&es)), Some("es"));
        assert_eq!(t.observe(1, Some(&en)), Some("es"));
        assert_eq!(t.observe(2, None), Some("es"));
        // One decisive English message is not enough…
        assert_eq!(t.observe(5, Some(&en)), Some("es"));
        // …a second in a row is.
        assert_eq!(t.observe(6, Some(&en)), Some("en"));
        // A long confident one flips at once.
        let long_es = LanguageGuess {
            code: "es".into(),
            confidence: 0.97,
        };
        assert_eq!(t.observe(20, Some(&long_es)), Some("es"));
    }
}
