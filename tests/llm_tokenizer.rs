//! Our GGUF tokenizer against reference ids from llama.cpp's tokenizer on the same files
//! (`tests/fixtures/llm_tokenizer_ids.json`, made by `tests/fixtures/gen_tokenizer_ids.py`).
//! Skips a model whose file is not in the cache unless `PARLEY_REQUIRE_MODELS` is set.

use parley::llm::local::tokenizer::GgufTokenizer;
use parley::llm::{fetch, manifest};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    source: String,
    models: std::collections::BTreeMap<String, Vec<Case>>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
}

fn tokenizer(id: &str) -> Option<GgufTokenizer> {
    let m = manifest::find(id).unwrap();
    let Some(path) = fetch::local_path(&m, &fetch::cache_dir()) else {
        if std::env::var_os("PARLEY_REQUIRE_MODELS").is_some() {
            panic!("model {id} is required (PARLEY_REQUIRE_MODELS) but not in the cache");
        }
        eprintln!("skipped: model {id} not in the cache");
        return None;
    };
    let mut f = std::fs::File::open(path).unwrap();
    let ct = candle_core::quantized::gguf_file::Content::read(&mut f).unwrap();
    Some(GgufTokenizer::from_gguf(&ct).unwrap())
}

#[test]
fn ids_match_llama_cpp_for_every_language_in_the_fixture() {
    let fixture: Fixture =
        serde_json::from_str(include_str!("fixtures/llm_tokenizer_ids.json")).unwrap();
    eprintln!("reference: {}", fixture.source);
    for (model, cases) in &fixture.models {
        let Some(tok) = tokenizer(model) else {
            continue;
        };
        for case in cases {
            let ours = tok.encode(&case.text).unwrap();
            assert_eq!(ours, case.ids, "{model}: {:?}", case.text);
            assert_eq!(tok.decode(&ours), case.text, "{model}: decode round trip");
        }
    }
}
