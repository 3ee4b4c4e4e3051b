//! OpenAPI schemas (utoipa) of the domain's own types, with the `openapi` feature: the API's
//! document is made from the types it sends, and its limits from the constants the rules use.

use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};

/// A positive 64-bit row id.
pub(crate) fn positive_id() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .into()
}

/// An event type's name (`issue.created`, ...): one of [`EventType::ALL`](crate::EventType::ALL).
impl utoipa::PartialSchema for crate::EventType {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(crate::EventType::ALL.iter().map(|t| t.as_str())))
            .into()
    }
}

impl utoipa::ToSchema for crate::EventType {}

/// The field errors of a 400: a list of messages per failing field (or `non_field_errors`).
impl utoipa::PartialSchema for crate::FieldErrors {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(Schema::from(
                utoipa::openapi::schema::OneOfBuilder::new()
                    .item(
                        utoipa::openapi::schema::ArrayBuilder::new()
                            .items(ObjectBuilder::new().schema_type(Type::String)),
                    )
                    .item(ObjectBuilder::new().schema_type(Type::String)),
            )))
            .description(Some(
                "A list of messages per failing field (or `non_field_errors`); or `{\"detail\": ...}` when the body could not be read at all.",
            ))
            .examples([serde_json::json!({"title": ["This field may not be blank."], "status": ["\"done\" is not a valid choice."]})])
            .into()
    }
}

impl utoipa::ToSchema for crate::FieldErrors {}
