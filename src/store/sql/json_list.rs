//! A list of strings kept as JSON text (`["openid","email"]`): the form
//! both backends store scopes, URIs and methods in. Decoding through this
//! type lets the domain rows derive `FromRow` directly
//! (`#[sqlx(try_from = "JsonList")]` on a `Vec<String>` field).

use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Type};

pub struct JsonList(Vec<String>);

impl From<JsonList> for Vec<String> {
    fn from(list: JsonList) -> Self {
        list.0
    }
}

impl<DB: Database> Type<DB> for JsonList
where
    String: Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <String as Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <String as Type<DB>>::compatible(ty)
    }
}

impl<'r, DB: Database> Decode<'r, DB> for JsonList
where
    &'r str: Decode<'r, DB>,
{
    fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<DB>>::decode(value)?;
        // A malformed list is an error naming the column, never an empty list.
        Ok(JsonList(serde_json::from_str(text)?))
    }
}
