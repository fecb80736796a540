//! Validated value types: an invalid value cannot be constructed, so services never re-check.

mod custom_fields;
mod email;
mod handle;
mod money;
mod tag;
mod text;

pub use custom_fields::CustomFields;
pub use email::EmailAddress;
pub use handle::Handle;
pub use money::{Currency, Money};
pub use tag::Tag;
pub use text::{NonEmptyText, optional_text};
