//! W3C Trace Context: a request's `traceparent`, when valid, is kept on the job it submits, and its trace id is a
//! field of the request's log span (and of the job's), so a job can be found from the trace of the call that
//! started it. An invalid header is ignored, as the specification asks.
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

use crate::domain::Traceparent;

/// The request's valid `traceparent`, if it sent one (exactly one: two are ignored, as the specification says).
pub fn traceparent(headers: &HeaderMap) -> Option<Traceparent> {
    let mut values = headers.get_all("traceparent");
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    Traceparent::parse(value.to_str().ok()?)
}

/// The request span of `tracing-actix-web` (request id, route, status, latency) plus `trace_id`.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let trace = traceparent(request.headers());
        let trace_id = trace.as_ref().map(|t| t.trace_id());
        tracing_actix_web::root_span!(request, trace_id)
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, actix_web::Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
