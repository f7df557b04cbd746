//! The concrete facts of an operator's goal — times, prices, weekdays, names — and whether a
//! draft in any supported language carries them.

use std::fmt;

use crate::triage::language::{script_of, Script};
use crate::triage::text::is_cjk;

/// One fact a draft must contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// A clock time; minute is 0 for "3 PM".
    Time { hour: u32, minute: u32 },
    /// An amount of money as written digits, e.g. "189" or "1200" (separators removed).
    Price(String),
    /// 0 = Monday.
    Weekday(usize),
    /// A day named from today: "today", "tonight" or "tomorrow".
    RelativeDay(RelativeDay),
    /// A person's name, e.g. a technician.
    Name(String),
    /// Any other number in the goal (dates, counts, unit numbers).
    Number(String),
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fact::Time { hour, minute } => write!(f, "time {hour}:{minute:02}"),
            Fact::Price(p) => write!(f, "price {p}"),
            Fact::Weekday(d) => write!(f, "day {}", WEEKDAYS[*d][0]),
            Fact::RelativeDay(d) => write!(f, "day {}", d.words()[0]),
            Fact::Name(n) => write!(f, "name {n}"),
            Fact::Number(n) => write!(f, "number {n}"),
        }
    }
}

impl Fact {
    /// The fact as a reply in `language` should write it: "2 PM" in English and "14:00"
    /// elsewhere, the weekday in the target language, prices with a dollar sign. Small models
    /// copy a written-out fact far more reliably than they convert one.
    pub fn spelled(&self, language: &str) -> String {
        match self {
            Fact::Time { hour, minute } if language == "en" => {
                let h12 = match hour % 12 {
                    0 => 12,
                    h => h,
                };
                let meridiem = if *hour >= 12 { "PM" } else { "AM" };
                if *minute == 0 {
                    format!("{h12} {meridiem}")
                } else {
                    format!("{h12}:{minute:02} {meridiem}")
                }
            }
            Fact::Time { hour, minute } => format!("{hour}:{minute:02}"),
            Fact::Price(p) => format!("${}", grouped(p)),
            Fact::Weekday(d) => weekday_name(*d, language).to_string(),
            Fact::RelativeDay(d) => d.spelled(language).to_string(),
            Fact::Name(n) | Fact::Number(n) => n.clone(),
        }
    }
}

/// "2400" → "2,400".
fn grouped(digits: &str) -> String {
    let n = digits.len();
    let mut out = String::with_capacity(n + n / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The weekday (0 = Monday) as written in `language`; English for a language not listed.
fn weekday_name(day: usize, language: &str) -> &'static str {
    const NAMES: [(&str, [&str; 7]); 10] = [
        (
            "en",
            [
                "Monday",
                "Tuesday",
                "Wednesday",
                "Thursday",
                "Friday",
                "Saturday",
                "Sunday",
            ],
        ),
        (
            "es",
            [
                "lunes",
                "martes",
                "miércoles",
                "jueves",
                "viernes",
                "sábado",
                "domingo",
            ],
        ),
        (
            "vi",
            [
                "thứ Hai",
                "thứ Ba",
                "thứ Tư",
                "thứ Năm",
                "thứ Sáu",
                "thứ Bảy",
                "Chủ Nhật",
            ],
        ),
        (
            "zh",
            ["周一", "周二", "周三", "周四", "周五", "周六", "周日"],
        ),
        (
            "tl",
            [
                "Lunes",
                "Martes",
                "Miyerkules",
                "Huwebes",
                "Biyernes",
                "Sabado",
                "Linggo",
            ],
        ),
        (
            "ko",
            [
                "월요일",
                "화요일",
                "수요일",
                "목요일",
                "금요일",
                "토요일",
                "일요일",
            ],
        ),
        (
            "fr",
            [
                "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
            ],
        ),
        (
            "pt",
            [
                "segunda-feira",
                "terça-feira",
                "quarta-feira",
                "quinta-feira",
                "sexta-feira",
                "sábado",
                "domingo",
            ],
        ),
        (
            "ru",
            [
                "понедельник",
                "вторник",
                "среда",
                "четверг",
                "пятница",
                "суббота",
                "воскресенье",
            ],
        ),
        (
            "ar",
            [
                "الاثنين",
                "الثلاثاء",
                "الأربعاء",
                "الخميس",
                "الجمعة",
                "السبت",
                "الأحد",
            ],
        ),
    ];
    let names = NAMES
        .iter()
        .find(|(code, _)| *code == language)
        .map_or(&NAMES[0].1, |(_, names)| names);
    names[day % 7]
}

/// A day the goal names relative to today. Operators write "Sam can come today at 4:30" far
/// more often than a weekday, and the reply must keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelativeDay {
    Today,
    Tonight,
    Tomorrow,
}

impl RelativeDay {
    fn from_english(word: &str) -> Option<Self> {
        match word {
            "today" => Some(RelativeDay::Today),
            "tonight" => Some(RelativeDay::Tonight),
            "tomorrow" | "tmrw" => Some(RelativeDay::Tomorrow),
            _ => None,
        }
    }

    /// How the customers' languages say it, lower-case, with and without diacritics; the
    /// first is English. "Today" also accepts a part of the day ("this afternoon").
    fn words(self) -> &'static [&'static str] {
        match self {
            RelativeDay::Today => &[
                "today",
                "this morning",
                "this afternoon",
                "this evening",
                "tonight",
                "hoy",
                "esta tarde",
                "esta mañana",
                "aujourd'hui",
                "aujourd\u{2019}hui",
                "cet après-midi",
                "ce matin",
                "ce soir",
                "hoje",
                "hôm nay",
                "hom nay",
                "chiều nay",
                "sáng nay",
                "tối nay",
                "今天",
                "今日",
                "今晚",
                "오늘",
                "ngayon",
                "mamaya",
                "сегодня",
                "اليوم",
                "الليلة",
            ],
            RelativeDay::Tonight => &[
                "tonight",
                "this evening",
                "esta noche",
                "ce soir",
                "hoje à noite",
                "hoje a noite",
                "esta noite",
                "tối nay",
                "toi nay",
                "今晚",
                "今天晚上",
                "오늘 밤",
                "오늘밤",
                "오늘 저녁",
                "mamayang gabi",
                "ngayong gabi",
                "сегодня вечером",
                "вечером",
                "الليلة",
                "هذا المساء",
            ],
            RelativeDay::Tomorrow => &[
                "tomorrow",
                "mañana",
                "manana",
                "demain",
                "amanhã",
                "amanha",
                "ngày mai",
                "ngay mai",
                "明天",
                "明日",
                "내일",
                "bukas",
                "завтра",
                "غدا",
                "غدًا",
                "غداً",
                "بكرة",
                "بكره",
            ],
        }
    }

    /// The word a reply in `language` should use; English for a language not listed.
    fn spelled(self, language: &str) -> &'static str {
        const NAMES: [(&str, [&str; 3]); 10] = [
            ("en", ["today", "tonight", "tomorrow"]),
            ("es", ["hoy", "esta noche", "mañana"]),
            ("vi", ["hôm nay", "tối nay", "ngày mai"]),
            ("zh", ["今天", "今晚", "明天"]),
            ("tl", ["ngayon", "mamayang gabi", "bukas"]),
            ("ko", ["오늘", "오늘 밤", "내일"]),
            ("fr", ["aujourd'hui", "ce soir", "demain"]),
            ("pt", ["hoje", "hoje à noite", "amanhã"]),
            ("ru", ["сегодня", "сегодня вечером", "завтра"]),
            ("ar", ["اليوم", "الليلة", "غدًا"]),
        ];
        let names = NAMES
            .iter()
            .find(|(code, _)| *code == language)
            .map_or(&NAMES[0].1, |(_, names)| names);
        names[self as usize]
    }
}

/// Words small models write for a relative day that mean something else: Vietnamese "ngày
/// nay" is "nowadays", not "today" ("hôm nay").
const MISTRANSLATED_DAYS: &[(&str, RelativeDay, &str)] = &[("vi", RelativeDay::Today, "ngày nay")];

/// Currencies a translation swaps in for the goal's dollars ("$95" becomes "95元" in a Chinese
/// draft): the business charges dollars, and 95 yuan or 95 rubles is another price. Written
/// after the number, or (the symbols) before it.
const OTHER_CURRENCIES: &[&str] = &[
    "元",
    "人民币",
    "円",
    "원",
    "рублей",
    "рубля",
    "рубль",
    "руб",
    "đồng",
    "₫",
    "€",
    "euros",
    "euro",
    "£",
    "¥",
    "pesos",
    "peso",
    "piso",
    "₱",
    "VND",
    "ريال",
    "جنيه",
    "درهم",
];

/// The draft with known mistranslations of the goal's facts put right: a relative day small
/// models mistranslate, and a price of the goal written in another currency. Only what the
/// goal names is mended, so "ngày nay" in a reply about something else stays.
pub fn mend(draft: &str, goal_facts: &[Fact], language: &str) -> String {
    let mut out = draft.to_string();
    for (lang, day, wrong) in MISTRANSLATED_DAYS {
        let wanted = Fact::RelativeDay(*day);
        if *lang == language && goal_facts.contains(&wanted) && !present(&wanted, &out) {
            out = out.replace(wrong, day.spelled(language));
        }
    }
    for fact in goal_facts {
        match fact {
            Fact::Price(p) => out = in_dollars(&out, p),
            Fact::Name(n) if !present(fact, &out) => out = name_unmangled(&out, n),
            _ => {}
        }
    }
    if matches!(language, "zh" | "ja") {
        out = digits_set_solid(&out);
    }
    out
}

/// Chinese and Japanese set numbers solid with the characters around them ("下午2点"); small
/// models space them out like English ("下午 2 点"), which reads oddly and hides "2点".
fn digits_set_solid(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' && i > 0 && i + 1 < chars.len() {
            let (before, after) = (chars[i - 1], chars[i + 1]);
            let digit_and_cjk = |a: char, b: char| a.is_ascii_digit() && is_cjk(b);
            if digit_and_cjk(before, after) || digit_and_cjk(after, before) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// `text` with `name` put back where a model began writing it in another script and finished
/// in Latin letters: "سAMI" for Sami in an Arabic reply (test-050).
fn name_unmangled(text: &str, name: &str) -> String {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return text.to_string();
    };
    let tail: String = chars.as_str().to_lowercase();
    if tail.chars().count() < 2 || !first.is_alphabetic() {
        return text.to_string();
    }
    let mangled = |word: &str| {
        let mut cs = word.chars();
        cs.next()
            .is_some_and(|c| c.is_alphabetic() && script_of(c) != Some(Script::Latin))
            && cs.as_str().to_lowercase() == tail
    };
    text.split_inclusive(|c: char| !c.is_alphanumeric())
        .map(|piece| {
            let word = piece.trim_end_matches(|c: char| !c.is_alphanumeric());
            if mangled(word) {
                format!("{name}{}", &piece[word.len()..])
            } else {
                piece.to_string()
            }
        })
        .collect()
}

/// `text` with price `digits` written in another currency ("95元", "€95", "1.250 рублей")
/// written in dollars again.
fn in_dollars(text: &str, digits: &str) -> String {
    let dollars = format!("${}", grouped(digits));
    let mut forms = vec![digits.to_string(), grouped(digits)];
    for separator in [".", " ", "\u{a0}"] {
        forms.push(grouped(digits).replace(',', separator));
    }
    forms.dedup();
    let mut out = text.to_string();
    for form in &forms {
        for currency in OTHER_CURRENCIES {
            // "руб" must not eat "рубашек", nor "peso" "pesado"; 元 and 원 take their
            // particles without a space ("95元的", "95원입니다")
            let word = currency.chars().last().is_some_and(|c| {
                c.is_alphabetic()
                    && !matches!(
                        script_of(c),
                        Some(Script::Han | Script::Kana | Script::Hangul)
                    )
            });
            for gap in ["", " ", "\u{a0}"] {
                let after = format!("{form}{gap}{currency}");
                out = replace_where(&out, &after, &dollars, |head, tail| {
                    let mut back = head.chars().rev();
                    let before = (back.next(), back.next());
                    let part_of_a_number = continues_number(before) || head.ends_with('$');
                    let part_of_a_word =
                        word && tail.chars().next().is_some_and(char::is_alphabetic);
                    !(part_of_a_number || part_of_a_word)
                });
                let before = format!("{currency}{gap}{form}");
                out = replace_where(&out, &before, &dollars, |_, tail| {
                    let mut next = tail.chars();
                    !continues_number((next.next(), next.next()))
                });
            }
        }
    }
    out
}

/// Whether the two characters outward from a number ("…95" read backwards, or "95…" read
/// forwards) continue it: a digit, or a separator and a digit. "95元" in "195元" is not the
/// price 95.
fn continues_number((first, second): (Option<char>, Option<char>)) -> bool {
    let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
    digit(first) || (matches!(first, Some(',' | '.')) && digit(second))
}

/// `text` with `pattern` replaced by `with` where `replace(all text before, text after)` holds.
fn replace_where(
    text: &str,
    pattern: &str,
    with: &str,
    replace: impl Fn(&str, &str) -> bool,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut done = 0;
    while let Some(at) = rest.find(pattern) {
        let end = at + pattern.len();
        out.push_str(&rest[..at]);
        let (head, tail) = (&text[..done + at], &rest[end..]);
        out.push_str(if replace(head, tail) { with } else { pattern });
        done += end;
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Weekday names per language, Monday first; the first entry is English. Each list holds the
/// spellings customers' languages use, with and without diacritics.
const WEEKDAYS: [&[&str]; 7] = [
    &[
        "monday",
        "mon",
        "lunes",
        "thứ hai",
        "thu hai",
        "thứ 2",
        "星期一",
        "周一",
        "週一",
        "礼拜一",
        "lunes",
        "월요일",
        "lundi",
        "segunda",
        "понедельник",
        "الاثنين",
        "الإثنين",
        "lunes",
        "monday",
    ],
    &[
        "tuesday",
        "tue",
        "martes",
        "thứ ba",
        "thu ba",
        "thứ 3",
        "星期二",
        "周二",
        "週二",
        "礼拜二",
        "martes",
        "화요일",
        "mardi",
        "terça",
        "terca",
        "вторник",
        "الثلاثاء",
    ],
    &[
        "wednesday",
        "wed",
        "miércoles",
        "miercoles",
        "thứ tư",
        "thu tu",
        "thứ 4",
        "星期三",
        "周三",
        "週三",
        "礼拜三",
        "miyerkules",
        "수요일",
        "mercredi",
        "quarta",
        "среда",
        "среду",
        "الأربعاء",
        "الاربعاء",
    ],
    &[
        "thursday",
        "thu",
        "jueves",
        "thứ năm",
        "thu nam",
        "thứ 5",
        "星期四",
        "周四",
        "週四",
        "礼拜四",
        "huwebes",
        "목요일",
        "jeudi",
        "quinta",
        "четверг",
        "الخميس",
    ],
    &[
        "friday",
        "fri",
        "viernes",
        "thứ sáu",
        "thu sau",
        "thứ 6",
        "星期五",
        "周五",
        "週五",
        "礼拜五",
        "biyernes",
        "금요일",
        "vendredi",
        "sexta",
        "пятница",
        "пятницу",
        "الجمعة",
    ],
    &[
        "saturday",
        "sat",
        "sábado",
        "sabado",
        "thứ bảy",
        "thu bay",
        "thứ 7",
        "星期六",
        "周六",
        "週六",
        "礼拜六",
        "sabado",
        "토요일",
        "samedi",
        "sábado",
        "суббота",
        "субботу",
        "السبت",
    ],
    &[
        "sunday",
        "sun",
        "domingo",
        "chủ nhật",
        "chu nhat",
        "星期日",
        "星期天",
        "周日",
        "週日",
        "礼拜天",
        "linggo",
        "일요일",
        "dimanche",
        "domingo",
        "воскресенье",
        "الأحد",
        "الاحد",
    ],
];

/// Words that start with a capital in a goal without being names.
const NOT_NAMES: &[&str] = &[
    "i",
    "pm",
    "am",
    "ac",
    "hvac",
    "ok",
    "tell",
    "say",
    "ask",
    "offer",
    "propose",
    "confirm",
    "apologise",
    "apologize",
    "let",
    "thank",
    "thanks",
    "quote",
    "the",
    "a",
    "an",
    "we",
    "our",
    "they",
    "he",
    "she",
    "it",
    "yes",
    "no",
    "sorry",
    "please",
    "remind",
    "explain",
    "send",
    "schedule",
    "reschedule",
    "book",
    "cancel",
    "today",
    "tomorrow",
    "tonight",
    "morning",
    "afternoon",
    "evening",
    "next",
    "this",
    "noon",
    "midnight",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "if",
    "and",
    "or",
    "but",
    "also",
    "invoice",
    "diagnostic",
    "visit",
    "tech",
    "technician",
];

/// Maps Arabic-Indic, Persian and full-width digits to ASCII so "٣" and "３" count as "3".
pub fn ascii_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '٠'..='٩' => char::from(b'0' + (c as u32 - '٠' as u32) as u8),
            '۰'..='۹' => char::from(b'0' + (c as u32 - '۰' as u32) as u8),
            '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
            _ => c,
        })
        .collect()
}

/// Tokens of a goal: words with their original case, punctuation split off.
fn tokens(goal: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in goal.chars() {
        if c.is_alphanumeric() || c == '$' || c == ':' || c == '.' || c == ',' || c == '\'' {
            current.push(c);
        } else {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            if c == '€' || c == '£' {
                out.push(c.to_string());
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out.into_iter()
        .map(|t| {
            t.trim_matches(|c: char| c == '.' || c == ',' || c == ':' || c == '\'')
                .to_string()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

fn parse_clock(token: &str) -> Option<(u32, u32)> {
    let (h, m) = match token.split_once(':') {
        Some((h, m)) => (h.parse().ok()?, m.get(..2)?.parse().ok()?),
        None => (token.parse().ok()?, 0),
    };
    (h <= 24 && m < 60).then_some((h, m))
}

fn is_meridiem(t: &str) -> Option<bool> {
    match t.to_lowercase().replace('.', "").as_str() {
        "pm" => Some(true),
        "am" => Some(false),
        _ => None,
    }
}

/// Extracts the facts a reply to `goal` must carry. `names` are the business's technicians,
/// always treated as names when they appear.
pub fn extract(goal: &str, names: &[String]) -> Vec<Fact> {
    let toks = tokens(&ascii_digits(goal));
    let mut facts: Vec<Fact> = Vec::new();
    let mut used = vec![false; toks.len()];
    for i in 0..toks.len() {
        let t = &toks[i];
        let lower = t.to_lowercase();
        // "3pm", "3:30pm", "3 PM", "15:00", "noon"
        let glued = lower
            .strip_suffix("pm")
            .map(|n| (n, true))
            .or_else(|| lower.strip_suffix("am").map(|n| (n, false)))
            .and_then(|(n, pm)| parse_clock(n).map(|c| (c, pm)));
        let spaced = toks
            .get(i + 1)
            .and_then(|next| is_meridiem(next))
            .and_then(|pm| parse_clock(&lower).map(|c| (c, pm)));
        if let Some(((h, m), pm)) = glued.or(spaced) {
            let hour = match (h, pm) {
                (12, false) => 0,
                (h, true) if h < 12 => h + 12,
                (h, _) => h,
            };
            facts.push(Fact::Time { hour, minute: m });
            used[i] = true;
            if spaced.is_some() {
                used[i + 1] = true;
            }
            continue;
        }
        if lower == "noon" {
            facts.push(Fact::Time {
                hour: 12,
                minute: 0,
            });
            continue;
        }
        if lower.contains(':') {
            if let Some((h, m)) = parse_clock(&lower) {
                facts.push(Fact::Time { hour: h, minute: m });
                continue;
            }
        }
        if let Some(amount) = lower.strip_prefix('$') {
            let digits: String = amount.chars().filter(char::is_ascii_digit).collect();
            let whole = amount.split('.').next().unwrap_or(amount);
            let whole: String = whole.chars().filter(char::is_ascii_digit).collect();
            if !digits.is_empty() {
                facts.push(Fact::Price(whole));
                continue;
            }
        }
        if lower
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '.')
            && lower.chars().any(|c| c.is_ascii_digit())
        {
            let is_money = toks.get(i + 1).is_some_and(|n| {
                ["dollars", "dollar", "usd", "bucks"].contains(&n.to_lowercase().as_str())
            });
            let whole: String = lower
                .split('.')
                .next()
                .unwrap_or(&lower)
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            facts.push(if is_money {
                Fact::Price(whole)
            } else {
                Fact::Number(whole)
            });
            continue;
        }
        if let Some(day) = WEEKDAYS
            .iter()
            .position(|names| names[0] == lower || names[1] == lower)
        {
            facts.push(Fact::Weekday(day));
            continue;
        }
        if let Some(day) = RelativeDay::from_english(&lower) {
            facts.push(Fact::RelativeDay(day));
            continue;
        }
        let is_technician = names
            .iter()
            .any(|n| n.split_whitespace().any(|w| w.eq_ignore_ascii_case(t)));
        let capitalised = t.chars().next().is_some_and(char::is_uppercase)
            && t.chars().skip(1).all(|c| c.is_lowercase())
            && t.chars().count() > 1;
        if is_technician || (capitalised && i > 0 && !NOT_NAMES.contains(&lower.as_str())) {
            facts.push(Fact::Name(t.to_string()));
        }
    }
    facts.dedup();
    facts
}

fn contains_number(text: &str, number: &str) -> bool {
    // Digits of the draft with thousands separators removed, split into standalone numbers.
    let cleaned: String = text
        .chars()
        .enumerate()
        .filter(|(i, c)| {
            // Drop a separator between digits ("1,200", "1.200", "1 200").
            !((*c == ',' || *c == '.' || *c == ' ' || *c == '\u{a0}')
                && text
                    .chars()
                    .nth(i.wrapping_sub(1))
                    .is_some_and(|p| p.is_ascii_digit())
                && text.chars().nth(i + 1).is_some_and(|n| n.is_ascii_digit())
                && text
                    .chars()
                    .skip(i + 1)
                    .take_while(char::is_ascii_digit)
                    .count()
                    == 3)
        })
        .map(|(_, c)| c)
        .collect();
    cleaned
        .split(|c: char| !c.is_ascii_digit())
        .any(|n| n == number || (n.len() > number.len() && n.trim_start_matches('0') == number))
}

/// Whether `draft` (any language) carries `fact`.
pub fn present(fact: &Fact, draft: &str) -> bool {
    let text = ascii_digits(draft);
    let lower = text.to_lowercase();
    match fact {
        Fact::Time { hour, minute } => {
            let h12 = match hour % 12 {
                0 => 12,
                h => h,
            };
            let hour_ok = contains_number(&lower, &h12.to_string())
                || contains_number(&lower, &hour.to_string())
                || contains_number(&lower, &format!("{hour:02}"));
            let minute_ok = *minute == 0 || contains_number(&lower, &format!("{minute:02}"));
            let noon_ok = *hour == 12
                && *minute == 0
                && [
                    "noon",
                    "mediodía",
                    "mediodia",
                    "midi",
                    "meio-dia",
                    "полдень",
                    "中午",
                    "정오",
                    "tanghali",
                ]
                .iter()
                .any(|w| lower.contains(w));
            (hour_ok && minute_ok) || noon_ok
        }
        Fact::Price(p) | Fact::Number(p) => contains_number(&lower, p),
        Fact::Weekday(d) => WEEKDAYS[*d].iter().any(|w| {
            // Short English forms must be whole words ("sat" is in "satisfied").
            if w.len() <= 3 && w.is_ascii() {
                lower
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|word| word == *w)
            } else {
                lower.contains(w)
            }
        }),
        Fact::RelativeDay(d) => d.words().iter().any(|w| lower.contains(w)),
        Fact::Name(n) => lower.contains(&n.to_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_price_of_the_goal_in_another_currency_is_put_back_in_dollars() {
        let goal = extract(
            "Kevin can come today at 1 PM; diagnostic fee $95, part $1250",
            &[],
        );
        for (draft, language, mended) in [
            (
                "Kevin今天下午1点可以来；诊断费95元。",
                "zh",
                "Kevin今天下午1点可以来；诊断费$95。",
            ),
            (
                "Стоимость 1 250 рублей, диагностика 95 руб.",
                "ru",
                "Стоимость $1,250, диагностика $95.",
            ),
            ("Le total est de €1.250.", "fr", "Le total est de $1,250."),
            ("Ang bayad ay 95 piso.", "tl", "Ang bayad ay $95."),
            ("95원입니다", "ko", "$95입니다"),
            // another number, a price already in dollars, and a price the goal does not name
            // stay
            ("共195元，另加95美元。", "zh", "共195元，另加95美元。"),
            ("El costo es 40 pesos.", "es", "El costo es 40 pesos."),
            // a word that only begins like a currency
            ("95 рубашек", "ru", "95 рубашек"),
        ] {
            assert_eq!(mend(draft, &goal, language), mended);
        }
    }

    #[test]
    fn a_name_begun_in_another_script_is_put_back() {
        let goal = extract(
            "Sami can come today at 1 PM; service call $89",
            &["Sami".to_string()],
        );
        assert_eq!(
            mend("مرحباً منى، سAMI يمكن أن يزور اليوم", &goal, "ar"),
            "مرحباً منى، Sami يمكن أن يزور اليوم"
        );
        // a name already there, or a Latin word that merely ends the same way, stays
        let ok = "مرحباً، سامي أو Sami";
        assert_eq!(mend(ok, &goal, "ar"), ok);
        assert_eq!(mend("Tami vendrá hoy", &goal, "es"), "Tami vendrá hoy");
    }

    #[test]
    fn chinese_numbers_are_set_solid() {
        let goal = extract("Marco can come Thursday 2 PM", &[]);
        assert_eq!(
            mend("Marco 可以在周四下午 2 点来。", &goal, "zh"),
            "Marco 可以在周四下午2点来。"
        );
        assert_eq!(mend("at 2 PM", &goal, "en"), "at 2 PM");
    }

    #[test]
    fn mends_a_mistranslated_today_only_when_the_goal_says_today() {
        let today = extract("Tuan can come today at 4 PM", &[]);
        assert_eq!(
            mend("Tuan có thể đến ngày nay vào 16:00.", &today, "vi"),
            "Tuan có thể đến hôm nay vào 16:00."
        );
        let monday = extract("Tuan can come Monday at 4 PM", &[]);
        let nowadays = "Máy lạnh ngày nay tiết kiệm điện hơn.";
        assert_eq!(mend(nowadays, &monday, "vi"), nowadays);
        assert_eq!(mend(nowadays, &today, "es"), nowadays);
    }

    fn techs() -> Vec<String> {
        vec!["Mike".to_string(), "Luis".to_string()]
    }

    #[test]
    fn facts_are_spelled_for_the_target_language() {
        let facts = extract(
            "Trey can come Wednesday at 2 PM; panel is $2,400",
            &["Trey Jackson".to_string()],
        );
        let en: Vec<String> = facts.iter().map(|f| f.spelled("en")).collect();
        assert_eq!(en, ["Trey", "Wednesday", "2 PM", "$2,400"]);
        let ko: Vec<String> = facts.iter().map(|f| f.spelled("ko")).collect();
        assert_eq!(ko, ["Trey", "수요일", "14:00", "$2,400"]);
        for f in &facts {
            assert!(present(f, &f.spelled("es")), "{f} as {}", f.spelled("es"));
        }
    }

    #[test]
    fn days_named_from_today_are_facts_in_every_language() {
        let facts = extract(
            "Owen can come tomorrow at 8:30 AM; refund issued today",
            &[],
        );
        assert!(facts.contains(&Fact::RelativeDay(RelativeDay::Tomorrow)));
        assert!(facts.contains(&Fact::RelativeDay(RelativeDay::Today)));
        let tomorrow = Fact::RelativeDay(RelativeDay::Tomorrow);
        assert!(present(&tomorrow, "Owen puede ir mañana a las 8:30."));
        assert!(present(&tomorrow, "Owen sẽ đến vào ngày mai lúc 8:30."));
        assert!(present(&tomorrow, "오웬이 내일 8시 30분에 방문합니다."));
        assert!(!present(&tomorrow, "Owen can come Tuesday at 8:30 AM."));
        assert_eq!(tomorrow.spelled("pt"), "amanhã");
        let today = Fact::RelativeDay(RelativeDay::Today);
        assert!(present(&today, "Sam can be there this afternoon at 4:30."));
        assert!(!present(&today, "Sam can be there at 4:30."));
    }

    #[test]
    fn extracts_times_prices_days_and_names() {
        let facts = extract(
            "propose 3 PM Tuesday, Mike will bring the $1,250 quote",
            &techs(),
        );
        assert_eq!(
            facts,
            vec![
                Fact::Time {
                    hour: 15,
                    minute: 0
                },
                Fact::Weekday(1),
                Fact::Name("Mike".into()),
                Fact::Price("1250".into()),
            ]
        );
        assert_eq!(
            extract("offer 9:30am or noon", &[]),
            vec![
                Fact::Time {
                    hour: 9,
                    minute: 30
                },
                Fact::Time {
                    hour: 12,
                    minute: 0
                }
            ]
        );
        assert_eq!(
            extract("the diagnostic is 89 dollars", &[]),
            vec![Fact::Price("89".into())]
        );
    }

    #[test]
    fn facts_are_found_in_other_languages() {
        let time = Fact::Time {
            hour: 15,
            minute: 0,
        };
        for draft in [
            "Hola Ana, ¿le parece bien el martes a las 3 p. m.?",
            "Chào chị Lan, thợ sẽ đến lúc 15:00 thứ Ba.",
            "王先生您好，周二下午3点可以吗？",
            "مرحبا، هل يناسبك يوم الثلاثاء الساعة ٣ مساءً؟",
            "Bonjour, mardi à 15h ?",
        ] {
            assert!(present(&time, draft), "{draft}");
            assert!(present(&Fact::Weekday(1), draft), "{draft}");
        }
        assert!(!present(&time, "We can come at 13:00 on Monday"));
        assert!(present(
            &Fact::Price("1250".into()),
            "Le devis est de 1 250 $"
        ));
        assert!(present(
            &Fact::Price("1250".into()),
            "the quote is $1,250.00"
        ));
        assert!(!present(&Fact::Price("125".into()), "the quote is $1,250"));
    }

    #[test]
    fn short_day_names_need_whole_words() {
        assert!(!present(&Fact::Weekday(5), "We hope you are satisfied"));
        assert!(present(&Fact::Weekday(5), "see you Sat morning"));
    }
}
