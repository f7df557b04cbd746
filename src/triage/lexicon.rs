//! Multilingual term matching over prepared text: words, prefixes, phrases and CJK substrings.
//!
//! Terms are written folded (lower case, no accents). `heat*` is a prefix, `no heat` a phrase,
//! and a term in a script without reliable spaces (Han, Hangul, Arabic) matches as a substring
//! of the space-free text, so "가스냄새" and "가스 냄새" both match `가스 냄새`.

use super::text::{Prepared, Token};

#[derive(Debug, Clone)]
enum Part {
    Word(String),
    Prefix(String),
}

impl Part {
    fn matches(&self, tok: &str, typos: bool) -> bool {
        match self {
            Part::Word(w) => tok == w || (typos && close_enough(w, tok)),
            Part::Prefix(p) => tok.starts_with(p.as_str()),
        }
    }
}

#[derive(Debug, Clone)]
enum Term {
    Phrase(Vec<Part>),
    Substring(String),
}

/// A compiled list of terms; a match reports where it starts and ends (token indexes).
#[derive(Debug, Clone)]
pub struct TermSet {
    terms: Vec<(Term, String)>,
    typos: bool,
}

/// Where a term matched.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// First token of the match.
    pub start: usize,
    /// One past the last token of the match.
    pub end: usize,
    /// The term as written in the list.
    pub term: String,
}

fn unspaced_script(c: char) -> bool {
    super::text::is_cjk(c)
        || ('\u{ac00}'..='\u{d7af}').contains(&c)
        || ('\u{1100}'..='\u{11ff}').contains(&c)
        || ('\u{3130}'..='\u{318f}').contains(&c)
        || ('\u{0600}'..='\u{06ff}').contains(&c)
}

impl TermSet {
    /// Compiles terms; `typos` lets whole words of 5+ letters match at edit distance 1.
    pub fn new(terms: &[&str], typos: bool) -> Self {
        Self::build(terms, typos, false)
    }

    /// Compiles terms that must match whole tokens in every script (negators: Arabic "لا"
    /// must not match inside "وهلا").
    pub fn words(terms: &[&str]) -> Self {
        Self::build(terms, false, true)
    }

    fn build(terms: &[&str], typos: bool, words_only: bool) -> Self {
        let terms = terms
            .iter()
            .filter(|t| !t.trim().is_empty())
            .map(|raw| {
                // Lists are written naturally; fold them the way the text is folded.
                let folded = super::text::fold(&raw.to_lowercase());
                let t = folded.as_str();
                // Han and Hangul glue words together, Arabic glues prefixes: match inside
                // tokens, unless the term is a prefix pattern (`واقف*`) or words are required.
                let substring = t.chars().any(unspaced_script)
                    && !t.contains('*')
                    && (!words_only || t.chars().any(super::text::is_cjk));
                let term = if substring {
                    Term::Substring(t.chars().filter(|c| !c.is_whitespace()).collect())
                } else {
                    Term::Phrase(
                        t.split_whitespace()
                            .map(|p| match p.strip_suffix('*') {
                                Some(pre) => Part::Prefix(pre.to_string()),
                                None => Part::Word(p.to_string()),
                            })
                            .collect(),
                    )
                };
                (term, raw.to_string())
            })
            .collect();
        TermSet { terms, typos }
    }

    /// Every match of every term in the text.
    pub fn find(&self, p: &Prepared, compact: &(String, Vec<usize>)) -> Vec<Hit> {
        let mut hits = Vec::new();
        let toks: &[Token] = &p.tokens;
        for (term, label) in &self.terms {
            match term {
                Term::Phrase(parts) => {
                    if parts.is_empty() || parts.len() > toks.len() {
                        continue;
                    }
                    for i in 0..=toks.len() - parts.len() {
                        let ok = parts.iter().enumerate().all(|(k, part)| {
                            let t = &toks[i + k];
                            !t.cjk && part.matches(&t.text, self.typos)
                        });
                        if ok {
                            hits.push(Hit {
                                start: i,
                                end: i + parts.len(),
                                term: label.clone(),
                            });
                        }
                    }
                }
                Term::Substring(s) => {
                    let (text, owner) = compact;
                    for (at, _) in text.match_indices(s.as_str()) {
                        let start = owner.get(at).copied().unwrap_or(0);
                        let last = owner
                            .get(at + s.len().saturating_sub(1))
                            .copied()
                            .unwrap_or(start);
                        hits.push(Hit {
                            start,
                            end: last + 1,
                            term: label.clone(),
                        });
                    }
                }
            }
        }
        hits
    }

    /// Whether any term matches.
    pub fn any(&self, p: &Prepared, compact: &(String, Vec<usize>)) -> bool {
        !self.find(p, compact).is_empty()
    }
}

/// Edit distance ≤ 1 (with adjacent transposition) between a listed word of 5+ letters and a
/// token: "smel", "flodding" and "sewge" still count.
fn close_enough(word: &str, tok: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (word.chars().collect(), tok.chars().collect());
    // Short words are too close to other words ("flood"/"floor", "feces"/"veces"); typos in
    // the first letter are rare.
    if a.len() < 6 || b.len() < 5 || a.len().abs_diff(b.len()) > 1 || a[0] != b[0] {
        return false;
    }
    if a.len() == b.len() {
        let diffs: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
        return match diffs.as_slice() {
            [] | [_] => true,
            [i, j] => *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i],
            _ => false,
        };
    }
    let (long, short) = if a.len() > b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    let mut i = 0;
    while i < short.len() && long[i] == short[i] {
        i += 1;
    }
    long[i + 1..] == short[i..]
}

/// Words that negate or make hypothetical what follows ("no gas smell", "if I smell gas").
const NEGATORS: &[&str] = &[
    "no",
    "not",
    "dont",
    "doesnt",
    "didnt",
    "isnt",
    "wasnt",
    "arent",
    "havent",
    "hasnt",
    "without",
    "never",
    "nor",
    "none",
    "neither",
    "zero",
    "if",
    "sin",
    "ni",
    "nunca",
    "nada",
    "nao",
    "sem",
    "nem",
    "pas",
    "ne",
    "sans",
    "aucun*",
    "jamais",
    "khong",
    "chua",
    "neu",
    "walang",
    "wala",
    "hindi",
    "kung",
    "не",
    "нет",
    "без",
    "ни",
    "никак*",
    "если",
    "لا",
    "ولا",
    "ليس",
    "ليست",
    "بدون",
    "لم",
    "ما",
    "مش",
    "اذا",
    "kein*",
    "nicht",
    "ohne",
    "falls",
    "wenn",
    "non",
    "senza",
    "nothing",
];
/// Negation that follows the words it negates (Korean, Russian, Arabic dialect).
const POST_NEGATORS: &[&str] = &["안", "않*", "없*", "아니*", "нет", "никак*", "ما", "مش"];
/// Clause boundaries a negation does not reach across: "no smell, but now sparks".
const BARRIERS: &[&str] = &[
    "but", "however", "although", "pero", "sino", "mais", "nhung", "ma", "kaso", "но", "а", "لكن",
    "بس", "mas", "aber",
];
const CJK_NEGATORS: &[char] = &['没', '不', '无', '未', '沒', '無', '别'];

/// Decides whether a hit is negated, in every configured language.
#[derive(Debug, Clone)]
pub struct Negation {
    pre: TermSet,
    post: TermSet,
    barriers: TermSet,
}

impl Default for Negation {
    fn default() -> Self {
        Self::new()
    }
}

/// Where negators and clause barriers sit in one message.
#[derive(Debug, Clone, Default)]
pub struct NegationMarks {
    pre: Vec<bool>,
    post: Vec<bool>,
    barrier: Vec<bool>,
}

impl Negation {
    pub fn new() -> Self {
        Negation {
            pre: TermSet::words(NEGATORS),
            post: TermSet::words(POST_NEGATORS),
            barriers: TermSet::words(BARRIERS),
        }
    }

    /// Marks negators and barriers of a message once, for many `negated` calls.
    pub fn marks(&self, p: &Prepared, compact: &(String, Vec<usize>)) -> NegationMarks {
        let mark = |set: &TermSet| {
            let mut at = vec![false; p.tokens.len()];
            for h in set.find(p, compact) {
                if let Some(slot) = at.get_mut(h.start) {
                    *slot = true;
                }
            }
            at
        };
        NegationMarks {
            pre: mark(&self.pre),
            post: mark(&self.post),
            barrier: mark(&self.barriers),
        }
    }

    /// Whether a hit is negated: a negator up to four tokens before it in the same clause
    /// (not across "but"), a post-negator up to three tokens after it, or a Korean negative
    /// suffix inside its last token.
    pub fn negated(&self, m: &NegationMarks, p: &Prepared, h: &Hit) -> bool {
        let toks = &p.tokens;
        let Some(first) = toks.get(h.start) else {
            return false;
        };
        let clause = first.clause;
        for i in (h.start.saturating_sub(4)..h.start).rev() {
            if toks[i].clause != clause || m.barrier.get(i).copied().unwrap_or(false) {
                break;
            }
            if m.pre.get(i).copied().unwrap_or(false) {
                return true;
            }
            if toks[i].cjk && toks[i].text.chars().any(|c| CJK_NEGATORS.contains(&c)) {
                return true;
            }
        }
        for (i, t) in toks.iter().enumerate().skip(h.end).take(3) {
            if t.clause != clause || t.cjk {
                break;
            }
            if m.post.get(i).copied().unwrap_or(false) {
                return true;
            }
        }
        toks.get(h.end.saturating_sub(1))
            .is_some_and(|t| t.text.contains('없') || t.text.contains('않'))
    }
}

#[cfg(test)]
mod tests {
    use super::super::text::prepare;
    use super::*;

    fn hits(terms: &[&str], typos: bool, text: &str) -> Vec<String> {
        let p = prepare(text);
        let c = p.compact();
        TermSet::new(terms, typos)
            .find(&p, &c)
            .into_iter()
            .map(|h| h.term)
            .collect()
    }

    #[test]
    fn words_prefixes_and_phrases() {
        assert_eq!(
            hits(&["smell* gas"], false, "it smells gas"),
            ["smell* gas"]
        );
        assert_eq!(hits(&["no heat"], false, "NO HEAT!!"), ["no heat"]);
        assert!(hits(&["heat"], false, "heater").is_empty());
    }

    #[test]
    fn unspaced_scripts_match_as_substrings() {
        assert_eq!(
            hits(&["가스 냄새"], false, "가스냄새가 나요"),
            ["가스 냄새"]
        );
        assert_eq!(hits(&["煤气味"], false, "厨房里煤气味很重"), ["煤气味"]);
        assert_eq!(
            hits(&["رائحة غاز"], false, "في رائحة غاز قوية"),
            ["رائحة غاز"]
        );
    }

    #[test]
    fn typos_only_when_asked() {
        assert_eq!(hits(&["flooding"], true, "basement flodding"), ["flooding"]);
        assert_eq!(hits(&["sewage"], true, "sewgae"), ["sewage"]);
        assert!(hits(&["flooding"], false, "basement flodding").is_empty());
        assert!(hits(&["flood"], true, "floor").is_empty());
        assert!(hits(&["feces"], true, "veces").is_empty());
    }
}
