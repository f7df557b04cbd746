//! Turns a prepared message into a sparse hashed feature vector for the linear model.
//!
//! Groups: folded word unigrams and bigrams, folded character 2–4-grams inside words (robust to
//! typos and inflection), raw 3-grams of accented words, CJK character 1–3-grams, the channel,
//! a length bucket, and cross-lingual concept features ("asks a price" in any language), which
//! let what the model learns from one language carry to the others.

use super::lexicon::{Negation, TermSet};
use super::text::Prepared;
use crate::domain::Channel;

/// A sparse vector: sorted unique indexes and their values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVec {
    pub idx: Vec<u32>,
    pub val: Vec<f32>,
}

impl SparseVec {
    /// Builds from unsorted (index, value) pairs, summing duplicates.
    pub fn from_pairs(mut pairs: Vec<(u32, f32)>) -> Self {
        pairs.sort_unstable_by_key(|p| p.0);
        let mut v = SparseVec::default();
        for (i, x) in pairs {
            if v.idx.last() == Some(&i) {
                if let Some(last) = v.val.last_mut() {
                    *last += x;
                }
            } else {
                v.idx.push(i);
                v.val.push(x);
            }
        }
        v
    }

    pub fn norm(&self) -> f32 {
        self.val.iter().map(|x| x * x).sum::<f32>().sqrt()
    }

    /// Appends a dense vector, scaled by `weight`, in the slots after the hashed ones.
    pub fn with_dense(mut self, dense: &[f32], weight: f32) -> Self {
        for (j, x) in dense.iter().take(DENSE_MAX).enumerate() {
            self.idx.push((HASHED + j) as u32);
            self.val.push(x * weight);
        }
        self
    }

    /// Scales to unit length (a zero vector stays zero).
    pub fn normalized(mut self) -> Self {
        let n = self.norm();
        if n > 0.0 {
            self.val.iter_mut().for_each(|x| *x /= n);
        }
        self
    }
}

/// Concepts shared across languages. Each is a feature of its own, so "cuanto cuesta",
/// "bao nhiêu tiền" and "how much" all light up `price`.
const CONCEPTS: &[(&str, &[&str])] = &[
    (
        "price",
        &[
            "how much",
            "cost*",
            "price*",
            "pricing",
            "estimate*",
            "quote*",
            "ballpark",
            "rates",
            "what do you charge",
            "cuanto",
            "cuesta",
            "costo*",
            "precio*",
            "presupuesto*",
            "cotiza*",
            "cobran",
            "bao nhieu",
            "bao gia",
            "chi phi",
            "gia ca",
            "bao nhieu tien",
            "多少钱",
            "价格",
            "报价",
            "费用",
            "估价",
            "收费",
            "多少",
            "magkano",
            "presyo",
            "halaga",
            "quotation",
            "얼마",
            "견적",
            "가격",
            "비용",
            "combien",
            "prix",
            "devis",
            "tarif*",
            "cout*",
            "quanto",
            "preco*",
            "orcamento*",
            "сколько",
            "цен*",
            "стоимост*",
            "смет*",
            "كم",
            "سعر",
            "تكلفه",
            "عرض سعر",
            "بكم",
            "قديش",
            "kosten",
            "preis*",
            "prezzo",
            "preventivo",
        ],
    ),
    (
        "visit",
        &[
            "come out",
            "come look",
            "come by",
            "come take a look",
            "send someone",
            "send a tech*",
            "schedule*",
            "appointment",
            "availab*",
            "book*",
            "visit",
            "can someone",
            "someone out",
            "pueden venir",
            "puede venir",
            "mandar a alguien",
            "manden",
            "cita",
            "agendar",
            "vengan",
            "revisar",
            "den sua",
            "qua xem",
            "dat lich",
            "lich hen",
            "cho nguoi",
            "cho tho",
            "上门",
            "预约",
            "派人",
            "过来",
            "来看",
            "pumunta",
            "papuntahin",
            "magpadala",
            "padala",
            "schedule",
            "방문",
            "예약",
            "와주",
            "보내주",
            "venir",
            "rendez vous",
            "rdv",
            "passer",
            "envoyer",
            "technicien",
            "vir",
            "visita",
            "agendar",
            "mandar alguem",
            "приехать",
            "прислать",
            "записаться",
            "мастер*",
            "موعد",
            "زياره",
            "تيجوا",
            "تبعتوا",
            "ابعتوا",
            "termin",
        ],
    ),
    (
        "move",
        &[
            "reschedul*",
            "move my",
            "move our",
            "move the",
            "cancel*",
            "postpone",
            "push back",
            "push it",
            "different day",
            "another day",
            "instead",
            "running late",
            "eta",
            "on his way",
            "on the way",
            "still coming",
            "where is",
            "wheres",
            "what time",
            "cambiar la cita",
            "mover",
            "cancelar",
            "reprogram*",
            "pasar la cita",
            "ya viene",
            "a que hora",
            "doi lich",
            "doi ngay",
            "huy",
            "hoan",
            "doi qua",
            "may gio",
            "改期",
            "取消",
            "推迟",
            "改到",
            "换个时间",
            "几点",
            "到哪",
            "ilipat",
            "cancel",
            "resched*",
            "anong oras",
            "papunta na",
            "변경",
            "취소",
            "연기",
            "미루",
            "몇 시",
            "언제 오",
            "annuler",
            "reporter",
            "decaler",
            "deplacer",
            "a quelle heure",
            "remarcar",
            "adiar",
            "que horas",
            "перенести",
            "отменить",
            "во сколько",
            "الغاء",
            "تاجيل",
            "تغيير الموعد",
            "متى",
            "ايمتى",
            "verschieben",
        ],
    ),
    (
        "late",
        &[
            "late",
            "hasnt arrived",
            "havent arrived",
            "not here yet",
            "still waiting",
            "no show",
            "no one showed",
            "nobody showed",
            "never showed",
            "been waiting",
            "no ha llegado",
            "tarde",
            "nadie vino",
            "chua toi",
            "chua den",
            "tre",
            "还没来",
            "还没到",
            "迟到",
            "等了",
            "wala pa",
            "hindi pa dumadating",
            "안 왔",
            "안 오",
            "늦",
            "pas encore arrive",
            "retard",
            "personne n est venu",
            "nao chegou",
            "atrasad*",
            "ninguem veio",
            "не приехал",
            "опаздыва*",
            "никто не",
            "لم يصل",
            "ما وصل",
            "متاخر",
            "ما اجا",
        ],
    ),
    (
        "unhappy",
        &[
            "still",
            "again",
            "not fixed",
            "terrible",
            "worst",
            "unacceptable",
            "disappointed",
            "rude",
            "damage*",
            "ruined",
            "mess",
            "ridiculous",
            "frustrat*",
            "upset",
            "angry",
            "complain*",
            "poor",
            "sloppy",
            "overcharg*",
            "never again",
            "otra vez",
            "todavia",
            "pesimo",
            "molest*",
            "de nuevo",
            "sigue",
            "mal servicio",
            "queja",
            "lai bi",
            "van con",
            "te qua",
            "that vong",
            "buc minh",
            "khieu nai",
            "又",
            "还是",
            "太差",
            "失望",
            "投诉",
            "不满",
            "生气",
            "ulit",
            "na naman",
            "pa rin",
            "pangit",
            "dismayado",
            "reklamo",
            "또",
            "다시",
            "불만",
            "실망",
            "엉망",
            "화가",
            "encore",
            "toujours",
            "decu*",
            "inacceptable",
            "plainte",
            "mecontent*",
            "de novo",
            "ainda",
            "pessimo",
            "decepcion*",
            "reclama*",
            "absurdo",
            "опять",
            "снова",
            "ужасн*",
            "жалоб*",
            "недовол*",
            "مره ثانيه",
            "كمان مره",
            "سيء",
            "شكوى",
            "زعلان",
            "مش مبسوط",
        ],
    ),
    (
        "money",
        &[
            "invoice*",
            "bill",
            "billed",
            "billing",
            "charge*",
            "charged",
            "payment*",
            "paid",
            "pay",
            "receipt*",
            "refund*",
            "financing",
            "credit card",
            "card",
            "deposit",
            "balance",
            "factura*",
            "cobr*",
            "pago",
            "pague",
            "recibo",
            "reembolso",
            "deposito",
            "tarjeta",
            "hoa don",
            "thanh toan",
            "tien coc",
            "hoan tien",
            "tru tien",
            "tra tien",
            "发票",
            "付款",
            "收据",
            "退款",
            "扣款",
            "账单",
            "多收",
            "付了",
            "resibo",
            "bayad",
            "singil",
            "nagbayad",
            "청구",
            "결제",
            "영수증",
            "환불",
            "계산서",
            "인보이스",
            "카드",
            "facture*",
            "paiement",
            "paye",
            "rembours*",
            "recu",
            "fatura",
            "cobranca",
            "cobrad*",
            "pagamento",
            "paguei",
            "счет",
            "оплат*",
            "чек*",
            "возврат*",
            "списа*",
            "فاتوره",
            "دفع",
            "دفعت",
            "ايصال",
            "استرداد",
            "الحساب",
            "rechnung",
        ],
    ),
    (
        "thanks",
        &[
            "thank*",
            "thx",
            "ty",
            "appreciate*",
            "great job",
            "awesome",
            "perfect",
            "sounds good",
            "see you",
            "works for me",
            "that works",
            "got it",
            "confirmed",
            "confirm",
            "gracias",
            "perfecto",
            "listo",
            "de acuerdo",
            "nos vemos",
            "esta bien",
            "cam on",
            "dong y",
            "hen gap",
            "duoc roi",
            "谢谢",
            "好的",
            "可以",
            "没问题",
            "收到",
            "多谢",
            "salamat",
            "sige",
            "ayos",
            "okay po",
            "감사",
            "고맙",
            "알겠",
            "좋아요",
            "확인",
            "merci",
            "parfait",
            "d accord",
            "ca marche",
            "entendu",
            "obrigad*",
            "perfeito",
            "combinado",
            "beleza",
            "спасибо",
            "хорошо",
            "отлично",
            "договорились",
            "شكرا",
            "تمام",
            "حسنا",
            "موافق",
            "يعطيكم العافيه",
            "danke",
        ],
    ),
    (
        "spam",
        &[
            "won",
            "winner",
            "gift card",
            "click",
            "link",
            "verify your",
            "seo",
            "loan*",
            "crypto",
            "promo*",
            "unsubscribe",
            "wrong number",
            "who is this",
            "whos this",
            "congratulations",
            "prize",
            "claim",
            "bit ly",
            "http*",
            "www",
            "ganaste",
            "premio",
            "numero equivocado",
            "quien es",
            "trung thuong",
            "nham so",
            "ai vay",
            "中奖",
            "点击",
            "链接",
            "打错了",
            "你是谁",
            "nanalo",
            "maling numero",
            "sino to",
            "sino po sila",
            "당첨",
            "클릭",
            "잘못 보내",
            "누구세요",
            "gagne",
            "cliquez",
            "mauvais numero",
            "ganhou",
            "clique",
            "numero errado",
            "quem e",
            "выиграли",
            "ссылк*",
            "не туда",
            "кто это",
            "ربحت",
            "اضغط",
            "رقم خطا",
            "مين معي",
            "مبروك",
        ],
    ),
    (
        "ask",
        &[
            "do you",
            "are you",
            "hours",
            "open",
            "warranty",
            "service area",
            "brand*",
            "how do i",
            "how long",
            "what kind",
            "is it normal",
            "should i",
            "tienen",
            "hacen",
            "horario",
            "garantia",
            "trabajan",
            "abren",
            "co lam",
            "bao hanh",
            "may gio mo",
            "co nhan",
            "你们",
            "保修",
            "营业",
            "几点",
            "有没有",
            "请问",
            "meron ba",
            "kayo ba",
            "warranty",
            "bukas",
            "하나요",
            "하시나요",
            "보증",
            "영업",
            "되나요",
            "faites vous",
            "vous faites",
            "garantie",
            "horaires",
            "ouvert",
            "voces fazem",
            "fazem",
            "garantia",
            "atendem",
            "вы делаете",
            "гарантия",
            "работаете",
            "هل",
            "عندكم",
            "بتشتغلوا",
            "كفاله",
        ],
    ),
    (
        "urgent",
        &[
            "asap",
            "urgent*",
            "emergency",
            "right now",
            "today",
            "tonight",
            "immediately",
            "help",
            "hoy",
            "urgente",
            "ayuda",
            "ahorita",
            "ya",
            "gap",
            "khan cap",
            "ngay",
            "hom nay",
            "toi nay",
            "giup",
            "紧急",
            "马上",
            "尽快",
            "今天",
            "急",
            "救命",
            "agad",
            "ngayon",
            "tulong",
            "급해",
            "긴급",
            "빨리",
            "오늘",
            "당장",
            "vite",
            "aujourd hui",
            "tout de suite",
            "hoje",
            "rapido",
            "agora",
            "socorro",
            "срочно",
            "сегодня",
            "скорее",
            "быстрее",
            "عاجل",
            "طوارئ",
            "اليوم",
            "بسرعه",
            "ضروري",
        ],
    ),
    (
        "calm",
        &[
            "no rush",
            "not urgent",
            "no emergency",
            "whenever",
            "next week",
            "no hurry",
            "when you can",
            "sometime",
            "next month",
            "no es urgente",
            "sin prisa",
            "cuando puedan",
            "la proxima semana",
            "khong gap",
            "khi nao ranh",
            "tuan sau",
            "不急",
            "不着急",
            "有空",
            "下周",
            "hindi urgent",
            "walang madali",
            "next week po",
            "급하지 않",
            "천천히",
            "다음 주",
            "pas urgent",
            "pas presse",
            "semaine prochaine",
            "nao e urgente",
            "sem pressa",
            "semana que vem",
            "не срочно",
            "на следующей неделе",
            "ليس عاجل",
            "مش مستعجل",
            "الاسبوع الجاي",
        ],
    ),
    (
        "broken",
        &[
            "not working",
            "stopped",
            "broke*",
            "wont",
            "leak*",
            "no hot water",
            "dead",
            "died",
            "not cooling",
            "not heating",
            "no funciona",
            "no prende",
            "se descompuso",
            "dejo de",
            "fuga",
            "gotea",
            "hu",
            "hong",
            "khong chay",
            "bi ro",
            "坏",
            "不工作",
            "漏水",
            "不制冷",
            "没有热水",
            "sira",
            "ayaw",
            "tumutulo",
            "hindi gumagana",
            "고장",
            "새요",
            "안 나와",
            "en panne",
            "ne marche",
            "fuite",
            "quebr*",
            "parou",
            "vazamento",
            "vazando",
            "не работает",
            "сломал*",
            "теч*",
            "خربان",
            "معطل",
            "ما بيشتغل",
            "تسريب",
            "بينقط",
        ],
    ),
    (
        "danger",
        &[
            "gas",
            "smoke",
            "spark*",
            "burning",
            "flood*",
            "sewage",
            "carbon monoxide",
            "fire",
            "olor a gas",
            "humo",
            "chispa*",
            "inund*",
            "mui gas",
            "khet",
            "ngap",
            "煤气",
            "冒烟",
            "火花",
            "淹",
            "amoy gas",
            "usok",
            "baha",
            "가스",
            "연기",
            "불꽃",
            "침수",
            "gaz",
            "fumee",
            "etincelle*",
            "inond*",
            "fumaca",
            "faisca*",
            "alag*",
            "газ*",
            "дым*",
            "искр*",
            "затоп*",
            "غاز",
            "دخان",
            "شرار",
            "فيضان",
        ],
    ),
    (
        "vulnerable",
        &[
            "kids",
            "baby",
            "elderly",
            "newborn",
            "pregnant",
            "oxygen",
            "asthma",
            "ninos",
            "bebe",
            "con nho",
            "em be",
            "小孩",
            "宝宝",
            "老人",
            "bata",
            "lola",
            "아기",
            "애들",
            "enfants",
            "criancas",
            "дети",
            "ребенок",
            "اطفال",
            "طفل",
        ],
    ),
    (
        "injection",
        &[
            "ignore your",
            "ignore all",
            "ignore previous",
            "ignore the",
            "system prompt",
            "as an ai",
            "mark this",
            "classify this",
            "set urgency",
            "set priority",
            "ignora tus",
            "ignora las",
            "marca esto",
            "bo qua",
            "忽略",
            "标记为",
            "balewalain",
            "무시",
            "ignore tes",
            "ignorez",
            "ignore as",
            "игнорируй",
            "تجاهل",
        ],
    ),
];

const DIM_BITS: u32 = 18;
/// Size of the hashed feature space (2^18): ~260k slots keep collisions rare for a few
/// thousand training messages while the weight table stays ~12 MB.
pub const HASHED: usize = 1 << DIM_BITS;
/// Slots after the hashed ones, for dense embedding values.
pub const DENSE_MAX: usize = 2048;
pub const DIM: usize = HASHED + DENSE_MAX;

/// FNV-1a, fed piecewise so n-grams are hashed without allocating.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new(namespace: u8) -> Self {
        Fnv(0xcbf2_9ce4_8422_2325).byte(namespace)
    }
    fn byte(mut self, b: u8) -> Self {
        self.0 ^= u64::from(b);
        self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        self
    }
    fn bytes(self, s: &[u8]) -> Self {
        s.iter().fold(self, |h, b| h.byte(*b))
    }
    fn ch(self, c: char) -> Self {
        let mut buf = [0u8; 4];
        self.bytes(c.encode_utf8(&mut buf).as_bytes())
    }
    fn slot(self) -> u32 {
        // Mix high bits down: FNV's low bits alone are weak.
        ((self.0 ^ (self.0 >> 29)) as u32) & ((1 << DIM_BITS) - 1)
    }
}

/// The feature extractor; build once.
pub struct Featurizer {
    concepts: Vec<(&'static str, TermSet)>,
    negation: Negation,
}

impl Default for Featurizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Featurizer {
    pub fn new() -> Self {
        Featurizer {
            concepts: CONCEPTS
                .iter()
                .map(|(name, terms)| (*name, TermSet::new(terms, false)))
                .collect(),
            negation: Negation::new(),
        }
    }

    /// Concept names present in the text (for reasons and tests).
    pub fn concepts(&self, p: &Prepared) -> Vec<&'static str> {
        let compact = p.compact();
        self.concepts
            .iter()
            .filter(|(_, set)| set.any(p, &compact))
            .map(|(name, _)| *name)
            .collect()
    }

    /// The feature vector of a message, unit length.
    pub fn featurize(&self, p: &Prepared, channel: Option<Channel>) -> SparseVec {
        let mut words: Vec<u32> = Vec::new();
        let mut bigrams: Vec<u32> = Vec::new();
        let mut chars: Vec<u32> = Vec::new();
        let mut raw: Vec<u32> = Vec::new();
        let toks = &p.tokens;

        for (i, t) in toks.iter().enumerate() {
            if t.cjk {
                continue;
            }
            let word = if t.text.chars().all(|c| c.is_ascii_digit()) {
                "0"
            } else {
                t.text.as_str()
            };
            words.push(Fnv::new(b'w').bytes(word.as_bytes()).slot());
            if let Some(n) = toks.get(i + 1) {
                if !n.cjk && n.sentence == t.sentence {
                    bigrams.push(
                        Fnv::new(b'b')
                            .bytes(word.as_bytes())
                            .byte(b' ')
                            .bytes(n.text.as_bytes())
                            .slot(),
                    );
                }
            }
            let padded: Vec<char> = std::iter::once('<')
                .chain(
                    t.text
                        .chars()
                        .take(24)
                        .map(|c| if c.is_ascii_digit() { '0' } else { c }),
                )
                .chain(std::iter::once('>'))
                .collect();
            for n in 2..=4 {
                for w in padded.windows(n) {
                    let h = w.iter().fold(Fnv::new(b'c'), |h, c| h.ch(*c));
                    chars.push(h.slot());
                }
            }
        }
        // CJK runs: character 1-3-grams, the word features of scripts without spaces.
        let mut run: Vec<char> = Vec::new();
        let flush_run = |run: &mut Vec<char>, chars: &mut Vec<u32>| {
            for n in 1..=3 {
                for w in run.windows(n) {
                    let h = w.iter().fold(Fnv::new(b'k'), |h, c| h.ch(*c));
                    chars.push(h.slot());
                }
            }
            run.clear();
        };
        for t in toks {
            if t.cjk {
                run.extend(t.text.chars());
            } else if !run.is_empty() {
                flush_run(&mut run, &mut chars);
            }
        }
        flush_run(&mut run, &mut chars);

        // Accented words keep their accents too: "está" and "esta" are different words.
        for w in p.lower.split(|c: char| !c.is_alphanumeric()) {
            if w.chars()
                .any(|c| !c.is_ascii() && c.is_alphabetic() && !super::text::is_cjk(c))
            {
                let cs: Vec<char> = w.chars().take(24).collect();
                for g in cs.windows(3) {
                    raw.push(g.iter().fold(Fnv::new(b'r'), |h, c| h.ch(*c)).slot());
                }
            }
        }

        let mut pairs: Vec<(u32, f32)> = Vec::new();
        let mut group = |ids: &[u32], weight: f32| {
            if ids.is_empty() {
                return;
            }
            let v = weight / (ids.len() as f32).sqrt();
            pairs.extend(ids.iter().map(|i| (*i, v)));
        };
        group(&words, 1.0);
        group(&bigrams, 0.6);
        group(&chars, 1.0);
        group(&raw, 0.4);

        let compact = p.compact();
        let marks = self.negation.marks(p, &compact);
        for (name, set) in &self.concepts {
            let hits = set.find(p, &compact);
            // "no smoke or smell" must not look like danger: negated danger is its own feature.
            let (n, negated) = if *name == "danger" {
                let neg = hits
                    .iter()
                    .filter(|h| self.negation.negated(&marks, p, h))
                    .count();
                (hits.len() - neg, neg)
            } else {
                (hits.len(), 0)
            };
            if n > 0 {
                let slot = Fnv::new(b'K').bytes(name.as_bytes()).slot();
                pairs.push((slot, 1.0 + 0.3 * (n.min(3) as f32)));
            }
            if negated > 0 {
                let slot = Fnv::new(b'K').bytes(b"danger_negated").slot();
                pairs.push((slot, 0.8));
            }
        }
        let ch = channel.map_or("none", |c| c.as_str());
        pairs.push((Fnv::new(b'h').bytes(ch.as_bytes()).slot(), 0.3));
        let len_bucket: &[u8] = match p.word_count() {
            0 => b"0",
            1..=2 => b"1-2",
            3..=6 => b"3-6",
            7..=20 => b"7-20",
            _ => b"21+",
        };
        pairs.push((Fnv::new(b'l').bytes(len_bucket).slot(), 0.3));
        SparseVec::from_pairs(pairs).normalized()
    }
}

#[cfg(test)]
mod tests {
    use super::super::text::prepare;
    use super::*;

    #[test]
    fn price_concept_is_shared_across_languages() {
        let f = Featurizer::new();
        for text in [
            "how much to replace a water heater",
            "cuanto cuesta",
            "bao nhiêu tiền",
            "多少钱",
            "magkano po",
            "얼마예요",
            "combien pour",
            "quanto custa",
            "сколько стоит",
            "كم سعر",
        ] {
            assert!(f.concepts(&prepare(text)).contains(&"price"), "{text}");
        }
    }

    #[test]
    fn vectors_are_unit_length_sorted_and_deterministic() {
        let f = Featurizer::new();
        let a = f.featurize(&prepare("My AC is blowing warm air"), Some(Channel::Sms));
        let b = f.featurize(&prepare("My AC is blowing warm air"), Some(Channel::Sms));
        assert_eq!(a, b);
        assert!((a.norm() - 1.0).abs() < 1e-4);
        assert!(a.idx.windows(2).all(|w| w[0] < w[1]));
        assert!(a.idx.iter().all(|i| (*i as usize) < DIM));
        let empty = f.featurize(&prepare(""), None);
        assert!(empty.val.iter().all(|x| x.is_finite()));
    }
}
