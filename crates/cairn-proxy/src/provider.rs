//! The four wire APIs behind one trait, so the proxy's flow is written once.

use cairn_service::ProxiedMessage;
use serde_json::Value;

use crate::anthropic::Anthropic;
use crate::gemini::Gemini;
use crate::openai_chat::OpenAiChat;
use crate::openai_responses::OpenAiResponses;
use crate::sse::Event;
use crate::wire::{self, Call, Slot};

/// Which wire API a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Anthropic,
    OpenAiChat,
    OpenAiResponses,
    Gemini,
}

impl Provider {
    /// The upstream family: whose credentials and base URL it uses.
    pub fn family(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::OpenAiChat | Provider::OpenAiResponses => "openai",
            Provider::Gemini => "gemini",
        }
    }

    /// How this API's requests, responses and streams are read and edited.
    pub fn wire(self) -> &'static dyn Wire {
        match self {
            Provider::Anthropic => &Anthropic,
            Provider::OpenAiChat => &OpenAiChat,
            Provider::OpenAiResponses => &OpenAiResponses,
            Provider::Gemini => &Gemini,
        }
    }
}

/// What the proxy's flow needs to know of one wire API. Each provider module
/// implements it; nothing else in the flow depends on the API's shapes.
pub trait Wire: Sync {
    /// The strings of a request that may be compressed, each with its query.
    fn slots(&self, request: &Value) -> Vec<Slot>;

    /// Whether the request already offers `cairn_retrieve`.
    fn has_retrieve_tool(&self, request: &Value) -> bool;

    /// Whether the client declares tools of its own.
    fn declares_tools(&self, request: &Value) -> bool {
        wire::declares_tools(request)
    }

    /// Offers `cairn_retrieve` to the model, beside the client's tools.
    fn add_retrieve_tool(&self, request: &mut Value);

    /// The tool calls of a (non-streamed or aggregated) response.
    fn calls(&self, response: &Value) -> Vec<Call>;

    /// Appends the model's turn and the answers to its calls to the request,
    /// for the next round trip.
    fn continue_with(&self, request: &mut Value, response: &Value, results: &[(Call, String)]);

    /// Removes the calls to `cairn_retrieve` from a response to the client.
    fn strip_ours(&self, response: &mut Value);

    /// Tells the model not to call tools (the last round trip).
    fn refuse_tools(&self, request: &mut Value);

    /// Ends a response's turn with a note, when no round trip is left.
    fn end_turn(&self, response: &mut Value, note: &str);

    /// A whole response as the stream events that would have carried it.
    fn events_of(&self, response: &Value) -> Vec<Event>;

    /// An error body in this API's shape.
    fn error_body(&self, status: u16, message: &str) -> Value;

    /// An error as a stream event in this API's shape.
    fn error_event(&self, message: &str) -> Event;

    /// The response a stream's events add up to.
    fn aggregate(&self, events: &[Event]) -> Result<Value, String>;

    /// The events of a stream without those of `cairn_retrieve` calls.
    fn filter_ours(&self, events: Vec<Event>) -> Vec<Event>;

    /// The messages of an exchange, as the session store records them.
    fn session_messages(&self, request: &Value, response: Option<&Value>) -> Vec<ProxiedMessage>;
}
