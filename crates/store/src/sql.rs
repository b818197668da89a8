//! A statement with its parameters, which runs on either driver: through sqlx (PostgreSQL,
//! and SQLite's pool) or in place through rusqlite (SQLite's statements on every
//! transaction's path, see `direct`); and the rows that either returns, read by column
//! index with one call ([`Columns::col`]).

use std::borrow::Cow;

use rusqlite::types::{FromSql, ToSqlOutput, Value as SqliteValue, ValueRef};
use sqlx::any::AnyRow;
use sqlx::{Any, Row as _};

use crate::{AnyQuery, Result, StoreError};

/// One parameter. A NULL keeps its type: PostgreSQL checks a parameter's declared type
/// against the column's.
#[derive(Debug, Clone)]
pub(crate) enum Value<'a> {
    Int(i64),
    Text(Cow<'a, str>),
    Blob(Cow<'a, [u8]>),
    NullInt,
    NullText,
    NullBlob,
}

impl Value<'_> {
    fn into_owned(self) -> Value<'static> {
        match self {
            Value::Int(v) => Value::Int(v),
            Value::Text(v) => Value::Text(Cow::Owned(v.into_owned())),
            Value::Blob(v) => Value::Blob(Cow::Owned(v.into_owned())),
            Value::NullInt => Value::NullInt,
            Value::NullText => Value::NullText,
            Value::NullBlob => Value::NullBlob,
        }
    }
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(Cow::Borrowed(v))
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(Cow::Borrowed(v))
    }
}

impl From<String> for Value<'_> {
    fn from(v: String) -> Self {
        Value::Text(Cow::Owned(v))
    }
}

impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(v: &'a [u8]) -> Self {
        Value::Blob(Cow::Borrowed(v))
    }
}

impl<'a> From<&'a Vec<u8>> for Value<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Value::Blob(Cow::Borrowed(v))
    }
}

impl From<Vec<u8>> for Value<'_> {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(Cow::Owned(v))
    }
}

/// The NULL of a parameter's type, for `Option`s.
pub(crate) trait Nullable {
    const NULL: Value<'static>;
}

impl Nullable for i64 {
    const NULL: Value<'static> = Value::NullInt;
}
impl Nullable for &str {
    const NULL: Value<'static> = Value::NullText;
}
impl Nullable for &String {
    const NULL: Value<'static> = Value::NullText;
}
impl Nullable for String {
    const NULL: Value<'static> = Value::NullText;
}
impl Nullable for &[u8] {
    const NULL: Value<'static> = Value::NullBlob;
}
impl Nullable for &Vec<u8> {
    const NULL: Value<'static> = Value::NullBlob;
}
impl Nullable for Vec<u8> {
    const NULL: Value<'static> = Value::NullBlob;
}

impl<'a, T: Into<Value<'a>> + Nullable> From<Option<T>> for Value<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(T::NULL, Into::into)
    }
}

impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_ref().into()
    }
}

impl<'a> From<&'a Option<Vec<u8>>> for Value<'a> {
    fn from(v: &'a Option<Vec<u8>>) -> Self {
        v.as_ref().into()
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Text(v) => ValueRef::Text(v.as_bytes()),
            Value::Blob(v) => ValueRef::Blob(v),
            Value::NullInt | Value::NullText | Value::NullBlob => ValueRef::Null,
        }))
    }
}

/// SQL text with `$1`, `$2`, … placeholders, and the values for them.
pub(crate) struct Sql<'a> {
    pub(crate) text: Cow<'a, str>,
    pub(crate) params: Vec<Value<'a>>,
}

impl<'a> Sql<'a> {
    pub(crate) fn new(text: impl Into<Cow<'a, str>>) -> Sql<'a> {
        Sql { text: text.into(), params: Vec::new() }
    }

    /// Binds the next placeholder.
    pub(crate) fn bind(mut self, value: impl Into<Value<'a>>) -> Sql<'a> {
        self.params.push(value.into());
        self
    }

    /// The same statement, owning its text and values (to be run by another task).
    pub(crate) fn into_owned(self) -> Sql<'static> {
        Sql {
            text: Cow::Owned(self.text.into_owned()),
            params: self.params.into_iter().map(Value::into_owned).collect(),
        }
    }

    /// The statement as a query for sqlx.
    pub(crate) fn query(&self) -> AnyQuery<'_> {
        let mut query = sqlx::query(&self.text);
        for value in &self.params {
            query = match value {
                Value::Int(v) => query.bind(*v),
                Value::Text(v) => query.bind(v.as_ref()),
                Value::Blob(v) => query.bind(v.as_ref()),
                Value::NullInt => query.bind(None::<i64>),
                Value::NullText => query.bind(None::<String>),
                Value::NullBlob => query.bind(None::<Vec<u8>>),
            };
        }
        query
    }
}

/// A type a column can be read as, from either driver's rows.
pub(crate) trait Column: sqlx::Type<Any> + for<'r> sqlx::Decode<'r, Any> + FromSql {}

impl<T: sqlx::Type<Any> + for<'r> sqlx::Decode<'r, Any> + FromSql> Column for T {}

/// A row, read by column index.
pub(crate) trait Columns {
    fn col<T: Column>(&self, index: usize) -> Result<T>;
}

impl Columns for AnyRow {
    fn col<T: Column>(&self, index: usize) -> Result<T> {
        Ok(self.try_get(index)?)
    }
}

/// A row read in place: its values, copied out of SQLite's statement.
pub(crate) struct DirectRow(pub(crate) Vec<SqliteValue>);

impl Columns for DirectRow {
    fn col<T: Column>(&self, index: usize) -> Result<T> {
        let value = self.0.get(index).ok_or(rusqlite::Error::InvalidColumnIndex(index))?;
        T::column_result(ValueRef::from(value)).map_err(|e| {
            StoreError::from(rusqlite::Error::FromSqlConversionFailure(index, value.data_type(), e.into()))
        })
    }
}

/// A row from either driver.
pub(crate) enum Row {
    Any(AnyRow),
    Direct(DirectRow),
}

impl Columns for Row {
    fn col<T: Column>(&self, index: usize) -> Result<T> {
        match self {
            Row::Any(row) => row.col(index),
            Row::Direct(row) => row.col(index),
        }
    }
}

/// A connection of either driver: sqlx's, or SQLite's writer in place.
pub(crate) enum Conn<'c> {
    Any(&'c mut sqlx::AnyConnection),
    Direct(&'c mut rusqlite::Connection),
}

impl Conn<'_> {
    /// Every row of the statement.
    pub(crate) async fn fetch_all(&mut self, sql: &Sql<'_>) -> Result<Vec<Row>> {
        match self {
            Conn::Any(conn) => Ok(sql.query().fetch_all(&mut **conn).await?.into_iter().map(Row::Any).collect()),
            Conn::Direct(conn) => {
                let conn: &mut rusqlite::Connection = conn;
                let (rows, _) = crate::direct::retry_busy(move || crate::direct::run(conn, sql)).await?;
                Ok(rows.into_iter().map(Row::Direct).collect())
            }
        }
    }

    /// The statement's first row, if any.
    pub(crate) async fn fetch_optional(&mut self, sql: &Sql<'_>) -> Result<Option<Row>> {
        match self {
            Conn::Any(conn) => Ok(sql.query().fetch_optional(&mut **conn).await?.map(Row::Any)),
            Conn::Direct(_) => Ok(self.fetch_all(sql).await?.into_iter().next()),
        }
    }
}
