//! The four wire APIs behind one enum, so the proxy's flow is written once.

use cairn_service::ProxiedMessage;
use serde_json::Value;

use crate::sse::Event;
use crate::wire::{self, Call, Slot};
use crate::{anthropic, gemini, openai_chat, openai_responses};

/// Which wire API a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Anthropic,
    OpenAiChat,
    OpenAiResponses,
    Gemini,
}

macro_rules! dispatch {
    ($self:expr, $function:ident ( $($argument:expr),* )) => {
        match $self {
            Provider::Anthropic => anthropic::$function($($argument),*),
            Provider::OpenAiChat => openai_chat::$function($($argument),*),
            Provider::OpenAiResponses => openai_responses::$function($($argument),*),
            Provider::Gemini => gemini::$function($($argument),*),
        }
    };
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

    pub fn slots(self, request: &Value) -> Vec<Slot> {
        dispatch!(self, slots(request))
    }

    pub fn has_retrieve_tool(self, request: &Value) -> bool {
        dispatch!(self, has_retrieve_tool(request))
    }

    /// Whether the client declares tools of its own.
    pub fn declares_tools(self, request: &Value) -> bool {
        match self {
            Provider::OpenAiResponses => openai_responses::declares_tools(request),
            _ => wire::declares_tools(request),
        }
    }

    pub fn add_retrieve_tool(self, request: &mut Value) {
        dispatch!(self, add_retrieve_tool(request))
    }

    pub fn calls(self, response: &Value) -> Vec<Call> {
        dispatch!(self, calls(response))
    }

    pub fn continue_with(self, request: &mut Value, response: &Value, results: &[(Call, String)]) {
        dispatch!(self, continue_with(request, response, results))
    }

    pub fn strip_ours(self, response: &mut Value) {
        dispatch!(self, strip_ours(response))
    }

    pub fn refuse_tools(self, request: &mut Value) {
        dispatch!(self, refuse_tools(request))
    }

    pub fn end_turn(self, response: &mut Value, note: &str) {
        dispatch!(self, end_turn(response, note))
    }

    pub fn events_of(self, response: &Value) -> Vec<Event> {
        dispatch!(self, events_of(response))
    }

    pub fn error_body(self, status: u16, message: &str) -> Value {
        dispatch!(self, error_body(status, message))
    }

    pub fn error_event(self, message: &str) -> Event {
        dispatch!(self, error_event(message))
    }

    pub fn aggregate(self, events: &[Event]) -> Result<Value, String> {
        dispatch!(self, aggregate(events))
    }

    pub fn filter_ours(self, events: Vec<Event>) -> Vec<Event> {
        dispatch!(self, filter_ours(events))
    }

    pub fn session_messages(
        self,
        request: &Value,
        response: Option<&Value>,
    ) -> Vec<ProxiedMessage> {
        dispatch!(self, session_messages(request, response))
    }
}
