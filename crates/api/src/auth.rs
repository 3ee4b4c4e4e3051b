//! Authentication. Handlers take [`Credentials`] (the parsed `Authorization` header) and resolve
//! it with [`Credentials::run`], which checks the token and does the handler's own store work in
//! one blocking call: one trip to the blocking pool per request instead of two. A handler cannot
//! reach the store without going through it.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::HttpMessage;
use actix_web::{web, FromRequest, HttpRequest};
use issue_tracker_domain::{hash_token, Actor, Origin, TokenScope, TokenScopes, User, Via};
use issue_tracker_persistence::{Database, TokenUse};

use crate::error::ApiError;
use crate::state::AppState;
pub use issue_tracker_web::authorization::token_from_headers;

/// The caller, proven by a valid token of an active user.
#[derive(Debug, Clone)]
pub struct AuthenticatedUser {
    /// Who is calling.
    pub user: User,
    /// Which of their tokens they used.
    pub token_id: issue_tracker_domain::TokenId,
    /// That token's scopes: empty for the user's full rights.
    pub scopes: TokenScopes,
    /// The request's id.
    pub request_id: Option<String>,
}

impl AuthenticatedUser {
    /// Whether the caller is staff (superusers are).
    pub fn is_staff(&self) -> bool {
        self.user.has_staff_rights()
    }

    /// Whether the caller may do what `scope` names: as staff with a full token, or with a token
    /// that carries the scope.
    pub fn is_staff_or_has(&self, scope: TokenScope) -> bool {
        if self.scopes.is_restricted() {
            self.scopes.allows(scope)
        } else {
            self.is_staff()
        }
    }

    /// Where the caller's changes come from, for the history.
    pub fn origin(&self) -> Origin {
        Origin {
            actor: Some(Actor {
                id: self.user.id,
                username: self.user.username.clone(),
            }),
            via: Via::Api,
            request_id: self.request_id.clone(),
        }
    }
}

/// A well-formed `Authorization: Token <key>` (or `Bearer <key>`) header, not yet checked.
/// Cloning it lets a handler check the token again later (a write whose body arrived after the
/// token may have been revoked).
#[derive(Clone)]
pub struct Credentials {
    key_hash: String,
    request_id: Option<String>,
    state: web::Data<AppState>,
}

impl FromRequest for Credentials {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = token_from_headers(req.headers()).and_then(|key| {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ApiError::Internal("AppState missing".into()))?;
            // The edge already hashed it for the rate limiter (when it runs: not in every
            // test's app).
            let key_hash = req
                .extensions()
                .get::<crate::middleware::PresentedTokenHash>()
                .map(|hash| hash.0.clone())
                .unwrap_or_else(|| hash_token(&key));
            Ok(Credentials {
                key_hash,
                request_id: req
                    .extensions()
                    .get::<crate::middleware::RequestId>()
                    .map(|id| id.0.clone()),
                state,
            })
        });
        ready(result)
    }
}

impl Credentials {
    /// The shared state (settings, pool).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Checks the token, then runs `work` with the caller, in one blocking call. A token with
    /// scopes is refused (403): its scopes name the few routes it may use, which call
    /// [`Credentials::run_scoped`].
    pub async fn run<T, F>(self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Database, &AuthenticatedUser) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_for(Needs::FullToken, work).await
    }

    /// [`Credentials::run`] for a route that reads a few rows by key and writes nothing. The
    /// token and the work's reads see one snapshot of the database, on one connection; on
    /// SQLite with a connection free they run in place, on the server's thread, instead of
    /// being handed to the blocking pool and back (see `Database::try_read_in_place`). The
    /// token's use is recorded afterwards, on the blocking pool, when it is due.
    pub async fn read<T, F>(self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Database, &AuthenticatedUser) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let key_hash = self.key_hash;
        let request_id = self.request_id;
        let state = self.state;
        let reads = move |db: &Database| {
            let (result, due) = look_up_then(db, &key_hash, request_id, Needs::FullToken, work);
            Ok::<_, ApiError>((result, due))
        };
        let in_place = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            state.db.try_read_in_place(reads)
        }))
        .map_err(|_| ApiError::Internal("a read panicked; the log says where".into()))?;
        let (result, due) = match in_place {
            Ok(done) => done?,
            Err(reads) => state.run(move |db| db.read_snapshot(reads)).await?,
        };
        if let Some(used) = due {
            state.run(move |db| Ok(db.record_token_use(used)?)).await?;
        }
        result
    }

    /// [`Credentials::run`] for a route that a token with `scope` may also use.
    pub async fn run_scoped<T, F>(self, scope: TokenScope, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Database, &AuthenticatedUser) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_for(Needs::Scope(scope), work).await
    }

    /// [`Credentials::run`] for a route any valid token may use, whatever its scopes (logout:
    /// a restricted token can still revoke itself).
    pub async fn run_any_token<T, F>(self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Database, &AuthenticatedUser) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_for(Needs::AnyToken, work).await
    }

    async fn run_for<T, F>(self, needs: Needs, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Database, &AuthenticatedUser) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let key_hash = self.key_hash;
        let request_id = self.request_id;
        self.state
            .run(move |db| {
                let (result, due) = look_up_then(db, &key_hash, request_id, needs, work);
                if let Some(used) = due {
                    db.record_token_use(used)?;
                }
                result
            })
            .await
    }

    /// Checks the token (a full one, as [`Credentials::run`]) and returns the caller: a read, in
    /// place where it can be (see [`Credentials::read`]).
    pub async fn authenticate(self) -> Result<AuthenticatedUser, ApiError> {
        self.read(|_, caller| Ok(caller.clone())).await
    }
}

/// What kind of token a route takes.
#[derive(Clone, Copy)]
enum Needs {
    FullToken,
    Scope(TokenScope),
    AnyToken,
}

/// Looks the token up, checks it against `needs`, then runs `work`. Also gives the token's use
/// to record, if due, whatever the outcome (a refused request still used the token).
fn look_up_then<T>(
    db: &Database,
    key_hash: &str,
    request_id: Option<String>,
    needs: Needs,
    work: impl FnOnce(&Database, &AuthenticatedUser) -> Result<T, ApiError>,
) -> (Result<T, ApiError>, Option<TokenUse>) {
    let found = match db.look_up_token(key_hash) {
        Ok(found) => found,
        Err(error) => return (Err(error.into()), None),
    };
    let Some((found, due)) = found else {
        return (Err(ApiError::Unauthorized("Invalid token.")), None);
    };
    if !found.user.is_active {
        return (
            Err(ApiError::Unauthorized("User inactive or deleted.")),
            due,
        );
    }
    let caller = AuthenticatedUser {
        user: found.user,
        token_id: found.token_id,
        scopes: found.scopes,
        request_id,
    };
    let allowed = match needs {
        Needs::FullToken => !caller.scopes.is_restricted(),
        Needs::Scope(scope) => !caller.scopes.is_restricted() || caller.scopes.allows(scope),
        Needs::AnyToken => true,
    };
    if !allowed {
        let refused = ApiError::ForbiddenBecause(format!(
            "This token's scopes ({}) do not allow this request.",
            caller.scopes.names().join(", ")
        ));
        return (Err(refused), due);
    }
    (work(db, &caller), due)
}
