//! The notifier engine as a portable component.
//!
//! Exports `thumbflow:pipeline/notify@0.1.0` and imports only WASI; the
//! signing logic lives in `thumbflow-notify`, this crate converts types.

use bindings::exports::thumbflow::pipeline::notify::{
    Guest, HttpRequest, StageError, WebhookOptions,
};

mod bindings {
    //! Generated bindings; wit-bindgen's output needs `unsafe`, nothing else here does.
    #![allow(unsafe_code)]
    wit_bindgen::generate!({ world: "notifier-core", path: "../../wit" });
    use super::Engine;
    export!(Engine);
}

struct Engine;

impl Guest for Engine {
    fn prepare_webhook(event: Vec<u8>, options: WebhookOptions) -> Result<HttpRequest, StageError> {
        let options = thumbflow_notify::WebhookOptions {
            url: options.url,
            secret: options.secret,
            message_id: options.message_id,
            timestamp: options.timestamp,
        };
        // Every notify error is about the input or the configuration: retrying will not help.
        let request = thumbflow_notify::webhook_request(&event, &options)
            .map_err(|e| StageError::Reject(e.to_string()))?;
        Ok(HttpRequest {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
        })
    }
}
