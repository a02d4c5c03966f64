//! Reading a request body whole, with the one size limit every endpoint shares.
//!
//! Each area turns a [`BodyError`] into its own error shape (OAuth, admin), so this knows nothing
//! about responses.

use axum::body::{Body, Bytes};

/// Largest request body accepted anywhere (16 KiB); larger ones get 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Why a request body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    TooLarge,
    Unreadable,
}

/// Reads a whole request body, refusing more than [`MAX_BODY_BYTES`].
pub async fn read_body(body: Body) -> Result<Bytes, BodyError> {
    use http_body_util::BodyExt as _;
    match http_body_util::Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Unreadable),
    }
}
