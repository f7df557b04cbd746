//! Operators tune prompts and the business voice over HTTP: validated, versioned, previewed.

mod common;

use common::{spawn_app, Engine};
use parley::domain::Role;
use reqwest::Method;
use serde_json::json;

on_both_engines!(
    templates_are_validated_versioned_and_rolled_back,
    preview_renders_without_a_model,
    voice_settings_round_trip_and_are_checked,
);

async fn templates_are_validated_versioned_and_rolled_back(engine: Engine) {
    let app = spawn_app(engine).await;
    let op = app.store.create_key("acme", Role::Operator).await.unwrap();

    // Agents cannot touch templates.
    let (s, _) = app.get("/v1/templates").await;
    assert_eq!(s, 403);

    let (s, list) = app.get_as(&op, "/v1/templates").await;
    assert_eq!(s, 200);
    let names: Vec<&str> = list["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["compose", "translate", "job_summary", "fact_sentence"]
    );
    assert!(list["templates"][0]["version"]
        .as_str()
        .unwrap()
        .starts_with("default-"));

    let put = |source: String| {
        let (app, op) = (&app, op.clone());
        async move {
            let r = app
                .client
                .put(app.url("/v1/templates/translate"))
                .bearer_auth(&op)
                .json(&json!({ "source": source }))
                .send()
                .await
                .unwrap();
            common::decode(r).await
        }
    };
    let good = "--- system ---\nTranslate into {{ target.name }}.\n--- user ---\n{{ text }}";
    let (s, v1) = put(good.to_string()).await;
    assert_eq!(s, 200, "{v1}");
    assert_eq!(v1["version"], "v1");
    assert_eq!(v1["custom"], true);

    // A broken template is refused with its line, and v1 stays live.
    let (s, err) = put("--- system ---\nok\n--- user ---\n{{ txet }}".to_string()).await;
    assert_eq!(s, 422);
    assert!(
        err["error"]["message"].as_str().unwrap().contains("line 4"),
        "{err}"
    );
    let (s, err) = put("--- user ---\n{% for x in text %}".to_string()).await;
    assert_eq!(s, 422, "{err}");
    let (_, live) = app.get_as(&op, "/v1/templates/translate").await;
    assert_eq!(live["version"], "v1");

    let (s, v2) = put(format!("{good}\nKeep numbers.")).await;
    assert_eq!(s, 200);
    assert_eq!(v2["version"], "v2");
    let (s, back) = app
        .post_as(
            &op,
            "/v1/templates/translate/rollback",
            json!({"version": 1}),
        )
        .await;
    assert_eq!(s, 200, "{back}");
    assert_eq!(back["version"], "v3");
    assert_eq!(back["source"], good);
    assert_eq!(back["history"].as_array().unwrap().len(), 3);

    let r = app
        .client
        .request(Method::DELETE, app.url("/v1/templates/translate"))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    let (s, reset) = common::decode(r).await;
    assert_eq!(s, 200);
    assert_eq!(reset["custom"], false);

    // Another business still sees the default.
    let other = app.store.create_key("rival", Role::Operator).await.unwrap();
    let (_, theirs) = app.get_as(&other, "/v1/templates/translate").await;
    assert_eq!(theirs["history"], json!([]));

    let (s, _) = app.get_as(&op, "/v1/templates/nope").await;
    assert_eq!(s, 404);
}

async fn preview_renders_without_a_model(engine: Engine) {
    let app = spawn_app(engine).await;
    let (s, preview) = app.post("/v1/templates/compose/preview", json!({})).await;
    assert_eq!(s, 200, "{preview}");
    let turns = preview["turns"].as_array().unwrap();
    assert_eq!(turns[0]["role"], "system");
    // The reply is begun with the greeting; the goal is in the user turn before it.
    let [.., ask, opening] = turns.as_slice() else {
        panic!("{preview}");
    };
    assert_eq!(opening["role"], "assistant");
    assert_eq!(opening["content"], "Hi Maria,");
    assert_eq!(ask["role"], "user");
    assert!(ask["content"]
        .as_str()
        .unwrap()
        .contains("Mike can be there at 3 PM today"));

    let (s, preview) = app
        .post(
            "/v1/templates/translate/preview",
            json!({"context": {"text": "hola", "source": {"code": "es", "name": "Spanish"},
                               "target": {"code": "en", "name": "English"}}}),
        )
        .await;
    assert_eq!(s, 200, "{preview}");
    assert_eq!(preview["turns"][1]["content"], "hola");
    let (s, err) = app
        .post(
            "/v1/templates/translate/preview",
            json!({"context": {"text": "hola"}}),
        )
        .await;
    assert_eq!(s, 422, "{err}");
}

async fn voice_settings_round_trip_and_are_checked(engine: Engine) {
    let app = spawn_app(engine).await;
    let op = app.store.create_key("acme", Role::Operator).await.unwrap();
    let (s, voice) = app.get("/v1/settings/voice").await;
    assert_eq!(s, 200);
    assert_eq!(voice["name"], "acme");
    let body = json!({"name": "Acme Heating & Air", "tone": "warm", "sign_off": "- Dana",
                      "technicians": ["Mike", "Luis"], "time_zone": "America/Chicago"});
    let put = |key: String, body: serde_json::Value| {
        let app = &app;
        async move {
            let r = app
                .client
                .put(app.url("/v1/settings/voice"))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            common::decode(r).await
        }
    };
    let (s, _) = put(app.key.clone(), body.clone()).await;
    assert_eq!(s, 403);
    let (s, saved) = put(op.clone(), body).await;
    assert_eq!(s, 200, "{saved}");
    assert_eq!(saved["technicians"], json!(["Mike", "Luis"]));
    let (_, voice) = app.get("/v1/settings/voice").await;
    assert_eq!(voice["tone"], "warm");
    let (s, err) = put(op, json!({"time_zone": "Mars/Olympus"})).await;
    assert_eq!(s, 422, "{err}");
}
