//! The JSON request bodies of the REST API (`PUT /v1/contexts` in its JSON
//! form, `POST /v1/compress`) on any bytes, parsed as the handlers parse
//! them: no panic and no stack overflow on hostile nesting (serde_json's
//! depth limit turns it into an error), and every body accepted prints back
//! to the same request.
#![no_main]

use cairn_types::{CompressRequest, PutRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<PutRequest>(data) {
        let printed = serde_json::to_vec(&request).expect("a request prints");
        let again: PutRequest = serde_json::from_slice(&printed).expect("printed parses");
        assert_eq!(request, again);
    }
    if let Ok(request) = serde_json::from_slice::<CompressRequest>(data) {
        let printed = serde_json::to_vec(&request).expect("a request prints");
        let again: CompressRequest = serde_json::from_slice(&printed).expect("printed parses");
        assert_eq!(request, again);
    }
});
