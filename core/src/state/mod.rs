//! Local state: the embedded database in the state folder.

mod db;

pub(crate) use db::{db_err, StateDb};
