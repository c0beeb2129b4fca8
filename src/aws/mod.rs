//! Everything that speaks to AWS: the SDK clients and their interceptor, the calls that one
//! account's check makes, assumed-role credentials, and which accounts there are to check.
//!
//! The layers, each importing only those below it: [`errors`] (bounded codes, redaction),
//! [`interceptor`] (call counting), [`paging`] (listings that end), [`clients`] (every client is built there), [`role`]
//! (assumed-role credentials), [`account`] (one account's check), [`shard`] and [`discovery`]
//! (the accounts to check).

pub mod account;
pub mod activity;
pub mod clients;
pub mod discovery;
pub mod errors;
pub mod interceptor;
pub mod paging;
pub mod role;
pub mod shard;
