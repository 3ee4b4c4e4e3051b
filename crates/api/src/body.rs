//! Reading request bodies the way the original did: JSON or form-encoded, size-limited, and only
//! once the existence and permission checks have passed.

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Reads the whole body, refusing more than `MAX_BODY_BYTES` with 413 without buffering it, and
/// a body that has not arrived within `REQUEST_BODY_TIMEOUT` with 408 (a client that declares a
/// length and then stalls must not hold a worker and a connection for ever).
pub async fn read_limited(
    req: &HttpRequest,
    payload: web::Payload,
    settings: &issue_tracker_config::HttpSettings,
) -> Result<web::Bytes, ApiError> {
    let deadline = settings.request_body_timeout;
    match tokio::time::timeout(deadline, read_body(req, payload, settings.max_body_bytes)).await {
        Ok(read) => read,
        Err(_) => Err(ApiError::BodyTimeout(deadline.as_secs_f64().ceil() as u64)),
    }
}

async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    if let Some(length) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if length > limit as u64 {
            return Err(ApiError::PayloadTooLarge);
        }
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request_detail(format!("Malformed request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The request's `Content-Type`, if any, as text (kept to be shown in a 415).
pub fn content_type(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// Parses a body into a JSON object according to its `Content-Type` (see [`content_type`]).
///
/// No `Content-Type` reads as an empty body; an empty JSON body is `{}`; other types get 415.
pub fn parse_object(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Map<String, Value>, ApiError> {
    let Some(shown) = content_type else {
        return Ok(Map::new());
    };
    let essence = shown
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        if body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(Map::new());
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request_detail(format!("JSON parse error - {e}")))?;
        return match value {
            Value::Object(map) => Ok(map),
            Value::Null => Err(ApiError::non_field("No data provided")),
            other => Err(ApiError::non_field(format!(
                "Invalid data. Expected a dictionary, but got {}.",
                python_type_name(&other)
            ))),
        };
    }
    if essence == "application/x-www-form-urlencoded" {
        if std::str::from_utf8(body).is_err() {
            return Err(ApiError::bad_request_detail(
                "Form parse error - the body is not valid UTF-8.",
            ));
        }
        let mut map = Map::new();
        for pair in body.split(|b| *b == b'&').filter(|pair| !pair.is_empty()) {
            let mut parts = pair.splitn(2, |b| *b == b'=');
            let key = form_decode(parts.next().unwrap_or_default())?;
            let value = form_decode(parts.next().unwrap_or_default())?;
            // Like Django's QueryDict, the last value of a repeated key wins.
            map.insert(key, Value::String(value));
        }
        return Ok(map);
    }
    Err(ApiError::UnsupportedMediaType(shown.to_owned()))
}

fn python_type_name(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "list",
        Value::String(_) => "str",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::Null => "NoneType",
        Value::Object(_) => "dict",
    }
}

/// Decodes one `application/x-www-form-urlencoded` component, refusing invalid UTF-8 (instead of
/// silently replacing it, as lossy decoders do).
fn form_decode(raw: &[u8]) -> Result<String, ApiError> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_encoding::percent_decode(&plus_as_space)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| {
            ApiError::bad_request_detail("Form parse error - the body is not valid UTF-8.")
        })
}

/// The pairs of a query string, strictly decoded (invalid UTF-8 is a 400).
pub fn query_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut pairs = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |raw: &str| {
            form_decode(raw.as_bytes())
                .map_err(|_| ApiError::bad_request_detail("The query string is not valid UTF-8."))
        };
        pairs.push((decode(key)?, decode(value)?));
    }
    Ok(pairs)
}
