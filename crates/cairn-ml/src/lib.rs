//! Cairn's local ML (SPEC §7): a sentence embedder run on the CPU with ONNX
//! Runtime (through `ort`, the library loaded at run time from the models
//! directory) and a Hugging Face `tokenizer.json` (through `tokenizers`).
//!
//! The models directory (laid out by `scripts/install-models.sh`):
//!
//! ```text
//! DIR/libonnxruntime.so        ONNX Runtime (CPU)
//! DIR/minilm/model.onnx        the sentence-embedding model (all-MiniLM-L6-v2, int8)
//! DIR/minilm/tokenizer.json    its tokenizer
//! ```
//!
//! Any sentence-embedding ONNX model of the BERT family works in place of
//! `minilm/`: inputs `input_ids` and `attention_mask` (and `token_type_ids`
//! when it has it), all i64; its first output either the token states
//! `[batch, tokens, dim]` (mean-pooled over the attention mask here) or the
//! sentence vectors `[batch, dim]`. Vectors are L2-normalised, so the dot
//! product is the cosine similarity.
//!
//! API boundary: no Cairn crate; callers pass text and get vectors.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;
use tokenizers::{Tokenizer, TruncationParams};

/// The ONNX Runtime library's file name in the models directory.
pub const RUNTIME_LIBRARY: &str = "libonnxruntime.so";
/// The embedder's directory in the models directory unless configured otherwise.
pub const DEFAULT_EMBEDDER: &str = "minilm";
/// Text is cut to this many tokens (wordpieces) before it is embedded: the
/// length all-MiniLM-L6-v2 was trained at. Longer text is embedded by its head.
pub const MAX_TOKENS: usize = 256;
/// Texts run through the model together.
pub const BATCH: usize = 16;
/// Intra-op threads of the session searches use.
pub const QUERY_THREADS: usize = 2;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum MlError {
    #[error("{path}: {message}")]
    Missing { path: PathBuf, message: String },
    #[error("cannot load ONNX Runtime from {path}: {message}")]
    Runtime { path: PathBuf, message: String },
    #[error("cannot load the model {path}: {message}")]
    Model { path: PathBuf, message: String },
    #[error("cannot load the tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error("inference failed: {0}")]
    Inference(String),
}

/// A sentence embedder: one ONNX session (run by one thread at a time, on
/// one intra-op thread) and its tokenizer.
#[derive(Debug)]
pub struct Embedder {
    session: Mutex<Session>,
    /// The same model for searches ([`Embedder::embed_query`]): a search
    /// never waits behind a background batch, and its few short texts run
    /// on [`QUERY_THREADS`] threads.
    query_session: Mutex<Session>,
    tokenizer: Tokenizer,
    token_type_ids: bool,
    dim: usize,
    id: String,
}

impl Embedder {
    /// Loads the embedder `name` (a subdirectory) of the models directory
    /// `dir` and checks it by embedding one sentence: a missing, corrupt or
    /// mismatched file is an error here, not at the first search.
    pub fn load(dir: &Path, name: &str) -> Result<Embedder, MlError> {
        let library = dir.join(RUNTIME_LIBRARY);
        let model = dir.join(name).join("model.onnx");
        let tokenizer_path = dir.join(name).join("tokenizer.json");
        for path in [&library, &model, &tokenizer_path] {
            if !path.is_file() {
                return Err(MlError::Missing {
                    path: path.clone(),
                    message: "no such file (scripts/install-models.sh installs it)".into(),
                });
            }
        }
        let runtime = |message: String| MlError::Runtime {
            path: library.clone(),
            message,
        };
        let environment = environment(&library).map_err(runtime)?;
        let model_error = |message: String| MlError::Model {
            path: model.clone(),
            message,
        };
        let session = |threads: usize| {
            Session::builder(&environment)
                .map_err(|error| model_error(error.to_string()))?
                .with_optimization_level(GraphOptimizationLevel::Level3)
                .map_err(|error| model_error(error.to_string()))?
                .with_intra_threads(threads)
                .map_err(|error| model_error(error.to_string()))?
                .with_inter_threads(1)
                .map_err(|error| model_error(error.to_string()))?
                .commit_from_file(&model)
                .map_err(|error| model_error(error.to_string()))
        };
        let query_session = session(QUERY_THREADS)?;
        let session = session(1)?;
        let names: Vec<&str> = session.inputs().iter().map(|input| input.name()).collect();
        for required in ["input_ids", "attention_mask"] {
            if !names.contains(&required) {
                return Err(model_error(format!(
                    "it has no input `{required}` (its inputs: {}); a sentence-embedding model \
                     of the BERT family is expected",
                    names.join(", ")
                )));
            }
        }
        let token_type_ids = names.contains(&"token_type_ids");
        let tokenizer_error = |message: String| MlError::Tokenizer {
            path: tokenizer_path.clone(),
            message,
        };
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|error| tokenizer_error(error.to_string()))?;
        // Padding is done here, per batch; truncation at the model's length.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|error| tokenizer_error(error.to_string()))?;
        let hash =
            blake3::hash(&std::fs::read(&model).map_err(|error| model_error(error.to_string()))?);
        let mut embedder = Embedder {
            session: Mutex::new(session),
            query_session: Mutex::new(query_session),
            tokenizer,
            token_type_ids,
            dim: 0,
            id: format!("{name}-{}", &hash.to_hex()[..12]),
        };
        let probe = embedder
            .embed(&["Cairn checks the model by embedding this sentence."])
            .map_err(|error| model_error(error.to_string()))?;
        embedder.dim = probe.first().map_or(0, Vec::len);
        if embedder.dim == 0 {
            return Err(model_error("it returns empty vectors".into()));
        }
        Ok(embedder)
    }

    /// The model's identity: its name and the start of its file's BLAKE3
    /// hash. Vectors of another model are never compared with this one's.
    pub fn model_id(&self) -> &str {
        &self.id
    }

    /// The vectors' length.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// One unit vector per text, in order, [`BATCH`] texts per model run.
    pub fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>, MlError> {
        self.embed_with(&self.session, texts)
    }

    /// [`Embedder::embed`] for a search's few short texts: its own session,
    /// on [`QUERY_THREADS`] threads, never behind the background embedder.
    pub fn embed_query<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>, MlError> {
        self.embed_with(&self.query_session, texts)
    }

    fn embed_with<S: AsRef<str>>(
        &self,
        session: &Mutex<Session>,
        texts: &[S],
    ) -> Result<Vec<Vec<f32>>, MlError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(BATCH) {
            vectors.extend(self.embed_batch(session, batch)?);
        }
        Ok(vectors)
    }

    fn embed_batch<S: AsRef<str>>(
        &self,
        session: &Mutex<Session>,
        texts: &[S],
    ) -> Result<Vec<Vec<f32>>, MlError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let mut encodings = Vec::with_capacity(texts.len());
        for text in texts {
            let encoding = self
                .tokenizer
                .encode(text.as_ref(), true)
                .map_err(|error| MlError::Inference(format!("tokenizing: {error}")))?;
            encodings.push(encoding);
        }
        let rows = encodings.len();
        let width = encodings
            .iter()
            .map(|encoding| encoding.get_ids().len())
            .max()
            .unwrap_or(0)
            .max(1);
        let mut ids = vec![0i64; rows * width];
        let mut mask = vec![0i64; rows * width];
        let mut types = vec![0i64; rows * width];
        for (row, encoding) in encodings.iter().enumerate() {
            let start = row * width;
            for (column, ((id, attention), kind)) in encoding
                .get_ids()
                .iter()
                .zip(encoding.get_attention_mask())
                .zip(encoding.get_type_ids())
                .enumerate()
            {
                ids[start + column] = i64::from(*id);
                mask[start + column] = i64::from(*attention);
                types[start + column] = i64::from(*kind);
            }
        }
        let shape = [rows, width];
        let tensor = |data: Vec<i64>| {
            Tensor::from_array((shape, data)).map_err(|error| MlError::Inference(error.to_string()))
        };
        let mut inputs = ort::inputs![
            "input_ids" => tensor(ids)?,
            "attention_mask" => tensor(mask.clone())?,
        ];
        if self.token_type_ids {
            inputs.push(("token_type_ids".into(), tensor(types)?.into()));
        }
        let mut session = session
            .lock()
            .map_err(|_| MlError::Inference("a previous inference panicked".into()))?;
        let outputs = session
            .run(inputs)
            .map_err(|error| MlError::Inference(error.to_string()))?;
        let (out_shape, data) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|error| MlError::Inference(error.to_string()))?;
        let dims: Vec<usize> = out_shape.iter().map(|&d| d.max(0) as usize).collect();
        let mut vectors = Vec::with_capacity(rows);
        match dims.as_slice() {
            // Token states: the mean over the tokens the mask keeps.
            [batch, tokens, dim] if *batch == rows && *tokens == width => {
                for row in 0..rows {
                    let mut sum = vec![0f32; *dim];
                    let mut count = 0f32;
                    for token in 0..width {
                        if mask[row * width + token] == 0 {
                            continue;
                        }
                        count += 1.0;
                        let at = (row * width + token) * dim;
                        for (total, value) in sum.iter_mut().zip(&data[at..at + dim]) {
                            *total += value;
                        }
                    }
                    for total in &mut sum {
                        *total /= count.max(1.0);
                    }
                    vectors.push(normalized(sum));
                }
            }
            // Sentence vectors.
            [batch, dim] if *batch == rows => {
                for row in 0..rows {
                    vectors.push(normalized(data[row * dim..(row + 1) * dim].to_vec()));
                }
            }
            other => {
                return Err(MlError::Inference(format!(
                    "the model's first output has shape {other:?}; [batch, tokens, dim] or \
                     [batch, dim] is expected"
                )));
            }
        }
        Ok(vectors)
    }
}

/// The process's one ONNX Runtime environment (ONNX Runtime allows one per
/// process, and its library is loaded once): made by the first successful
/// load, shared by every later one, whose library path is then not read.
fn environment(library: &Path) -> Result<Environment, String> {
    static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);
    let mut current = ENVIRONMENT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(environment) = current.as_ref() {
        return Ok(environment.clone());
    }
    let environment = ort::init_from(library)
        .map_err(|error| error.to_string())?
        .with_name("cairn")
        .build()
        .map_err(|error| error.to_string())?;
    *current = Some(environment.clone());
    Ok(environment)
}

fn normalized(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in &mut vector {
            *x /= norm;
        }
    }
    vector
}

/// The cosine similarity of two unit vectors (their dot product); 0 when
/// their lengths differ.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Where the tests find the models: `CAIRN_MODELS_DIR`, else `models/` at
/// the workspace root (`scripts/install-models.sh`'s default), if either
/// holds the runtime library.
pub fn test_models_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("CAIRN_MODELS_DIR").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|dir| dir.join(RUNTIME_LIBRARY).is_file())
}
