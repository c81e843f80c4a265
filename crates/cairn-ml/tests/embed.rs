//! Real inference with the installed models (scripts/install-models.sh).
//! Without them the tests say so loudly and pass, except under `CI=true`,
//! where a missing model is a failure.

use std::sync::OnceLock;

use cairn_ml::{Embedder, MlError, cosine};

fn embedder() -> Option<&'static Embedder> {
    static EMBEDDER: OnceLock<Option<Embedder>> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| {
            let Some(dir) = cairn_ml::test_models_dir() else {
                cairn_core::skip::cannot_run(
                    "the ML tests",
                    "no models (run scripts/install-models.sh or set CAIRN_MODELS_DIR)",
                );
                return None;
            };
            Some(Embedder::load(&dir, cairn_ml::DEFAULT_EMBEDDER).expect("the models load"))
        })
        .as_ref()
}

#[test]
fn related_sentences_are_closer_than_unrelated_ones() {
    let Some(embedder) = embedder() else { return };
    let vectors = embedder
        .embed(&[
            "connection pool exhausted",
            "the service ran out of database connections",
            "a recipe for banana bread with walnuts",
            "The cat sat on the mat.",
            "A kitten was sitting on the rug.",
        ])
        .expect("embeds");
    assert_eq!(vectors.len(), 5);
    assert!(vectors.iter().all(|v| v.len() == embedder.dim()));
    assert_eq!(embedder.dim(), 384);
    for vector in &vectors {
        let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "unit vectors, got norm {norm}");
    }
    let related = cosine(&vectors[0], &vectors[1]);
    let unrelated = cosine(&vectors[0], &vectors[2]);
    assert!(
        related > unrelated + 0.2,
        "related {related} vs unrelated {unrelated}"
    );
    let cats = cosine(&vectors[3], &vectors[4]);
    let cat_bread = cosine(&vectors[3], &vectors[2]);
    assert!(
        cats > cat_bread + 0.2,
        "related {cats} vs unrelated {cat_bread}"
    );
}

#[test]
fn batches_match_single_runs_and_long_text_is_cut() {
    let Some(embedder) = embedder() else { return };
    let long = "word ".repeat(5000);
    let texts = ["short", long.as_str(), "", "ünïcödé and emoji 🦀"];
    let together = embedder.embed(&texts).expect("embeds");
    for (text, vector) in texts.iter().zip(&together) {
        let alone = embedder.embed(&[*text]).expect("embeds");
        assert!(
            cosine(&alone[0], vector) > 0.999,
            "padding changes nothing for {text:?}"
        );
    }
}

#[test]
fn a_corrupt_model_is_a_clear_error() {
    let Some(dir) = cairn_ml::test_models_dir() else {
        return;
    };
    let broken = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(broken.path().join("minilm")).expect("mkdir");
    std::os::unix::fs::symlink(
        std::fs::canonicalize(dir.join(cairn_ml::RUNTIME_LIBRARY)).expect("lib"),
        broken.path().join(cairn_ml::RUNTIME_LIBRARY),
    )
    .expect("link");
    let model = std::fs::read(dir.join("minilm/model.onnx")).expect("model");
    std::fs::write(
        broken.path().join("minilm/model.onnx"),
        &model[..model.len() / 3],
    )
    .expect("write");
    std::fs::copy(
        dir.join("minilm/tokenizer.json"),
        broken.path().join("minilm/tokenizer.json"),
    )
    .expect("copy");
    let error = Embedder::load(broken.path(), "minilm").expect_err("a truncated model fails");
    assert!(matches!(error, MlError::Model { .. }), "{error}");
    assert!(error.to_string().contains("model.onnx"), "{error}");

    let missing = Embedder::load(broken.path(), "nothing-here").expect_err("missing");
    assert!(matches!(missing, MlError::Missing { .. }), "{missing}");
}

#[test]
fn loads_twice_in_one_process() {
    let Some(dir) = cairn_ml::test_models_dir() else {
        return;
    };
    let first = Embedder::load(&dir, "minilm").expect("first");
    drop(first);
    let second = Embedder::load(&dir, "minilm").expect("second");
    assert_eq!(second.embed(&["a"]).expect("embeds").len(), 1);
}
