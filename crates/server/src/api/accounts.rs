//! Accounts (B 3.7.1): codes, registration, login by password or code, logout, password
//! change and reset, phone and e-mail change, language, acting for an organization.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use qz_domain::access::{OrgAction, OrgRef};
use qz_domain::account::{
    CodePolicy, CodePurpose, LockoutPolicy, check_display_name, check_email, check_password, check_phone,
};
use qz_store::{CodeCheck, Session, StoreError, TrailEvent, User, now};

use crate::api::auth::{Caller, Client, clear_cookies, session_cookies, session_of};
use crate::api::{ApiError, ApiResult, Body, ListQuery, PageOut};
use crate::app::AppState;
use crate::notify::Template;
use crate::secrets::{check_password_hash, hash_password, hex, new_code, new_token, random_bytes};

/// A hash checked when the phone number is unknown, so a login takes as long either way.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Rq2z6Ht6IN0Yjv4yxm6yAGpBjMtHm6k7XYm0pRdhO0Y";

async fn hash(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

async fn verify(password: String, phc: String) -> ApiResult<bool> {
    tokio::task::spawn_blocking(move || check_password_hash(&password, &phc))
        .await
        .map_err(ApiError::internal)
}

fn auth_limit(state: &AppState, client: &Client, what: &str) -> ApiResult<()> {
    state.limiter.check(
        &format!("{what}:{}", client.ip),
        state.config.auth_rate_per_minute,
    )
}

/// Sends a code to a recipient (its own rate limits apply).
pub(crate) async fn issue_code(
    state: &AppState,
    purpose: CodePurpose,
    recipient: &str,
    locale: &str,
) -> ApiResult<()> {
    let policy = CodePolicy::default();
    let (last, count) = state.store.code_history(purpose.as_str(), recipient).await?;
    policy
        .may_send(now(), last, count)
        .map_err(|e| ApiError::rate_limited(e.to_string()))?;
    let code = new_code()?;
    let digest = state.key.code_digest(purpose.as_str(), recipient, &code);
    state
        .store
        .create_code(purpose.as_str(), recipient, &digest, policy.ttl)
        .await?;
    let channel = if purpose.by_email() { "email" } else { "sms" };
    state
        .notifier
        .send(
            channel,
            recipient,
            locale,
            &Template::Code {
                purpose: purpose.as_str(),
                code: &code,
            },
        )
        .await
}

/// Checks a code; wrong and missing codes are one 400 so the answer tells nothing more.
pub(crate) async fn use_code(
    state: &AppState,
    purpose: CodePurpose,
    recipient: &str,
    code: &str,
) -> ApiResult<()> {
    let digest = state.key.code_digest(purpose.as_str(), recipient, code.trim());
    match state
        .store
        .check_code(
            purpose.as_str(),
            recipient,
            &digest,
            CodePolicy::default().max_attempts,
        )
        .await?
    {
        CodeCheck::Accepted => Ok(()),
        CodeCheck::Wrong => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "wrong_code",
            "the code is wrong",
        )),
        CodeCheck::NoLiveCode => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no_code",
            "no valid code: it expired, was used, or had too many wrong tries; ask for a new one",
        )),
    }
}

/// `POST /auth/codes` body.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    /// register, login, reset_password, change_phone, change_email, sign.
    pub purpose: String,
    /// Phone number (or e-mail address for change_email); ignored for sign, which goes to
    /// the account's own phone.
    #[serde(default)]
    pub to: String,
    /// zh-CN (default) or en.
    pub locale: Option<String>,
}

/// `POST /auth/codes`: always 202 for register/login/reset, whether the number has an
/// account or not, so the answer does not reveal who is registered.
pub async fn send_code(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Body(form): Body<CodeForm>,
) -> ApiResult<Response> {
    auth_limit(&state, &client, "code")?;
    let purpose = CodePurpose::parse(&form.purpose)?;
    let locale = form.locale.as_deref().unwrap_or("zh-CN");
    let to = form.to.trim();
    match purpose {
        CodePurpose::ChangePhone | CodePurpose::ChangeEmail => {
            // Proving a new address needs a logged-in account; the CSRF rule applies too.
            let (session, user) = session_of(&state, &headers)
                .await?
                .ok_or_else(ApiError::unauthenticated)?;
            crate::api::auth::check_csrf(&headers, &session)?;
            if purpose == CodePurpose::ChangeEmail {
                check_email(to)?;
            } else {
                check_phone(to)?;
            }
            issue_code(&state, purpose, to, &user.locale).await?;
        }
        CodePurpose::Sign => {
            // Always to the account's own phone, whatever `to` says.
            let (session, user) = session_of(&state, &headers)
                .await?
                .ok_or_else(ApiError::unauthenticated)?;
            crate::api::auth::check_csrf(&headers, &session)?;
            issue_code(&state, purpose, &user.phone, &user.locale).await?;
        }
        CodePurpose::Register => {
            check_phone(to)?;
            match state.store.user_by_phone(to).await {
                // A guest account is taken over by registering the number.
                Ok(user) if !user.guest => {
                    state
                        .notifier
                        .send("sms", to, &user.locale, &Template::AlreadyRegistered)
                        .await?;
                }
                Ok(_) | Err(StoreError::NotFound(_)) => issue_code(&state, purpose, to, locale).await?,
                Err(err) => return Err(err.into()),
            }
        }
        CodePurpose::Login | CodePurpose::ResetPassword => {
            check_phone(to)?;
            match state.store.user_by_phone(to).await {
                // A guest account signs only through its links (scoped sessions); registering
                // the number takes it over.
                Ok(user) if !user.disabled && !user.guest => {
                    issue_code(&state, purpose, to, &user.locale).await?;
                }
                Ok(_) | Err(StoreError::NotFound(_)) => {}
                Err(err) => return Err(err.into()),
            }
        }
    }
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "sent": true }))).into_response())
}

/// The answer of login and registration.
#[derive(Debug, Serialize)]
pub struct LoginOut {
    /// The account.
    pub user: User,
    /// Echo this in `X-CSRF-Token` on state-changing requests.
    pub csrf_token: String,
}

pub(crate) async fn start_session(
    state: &AppState,
    user: User,
    client: &Client,
    status: StatusCode,
) -> ApiResult<Response> {
    let (token, id) = new_token()?;
    let csrf = hex(&random_bytes::<16>()?);
    let session = Session {
        id,
        user_id: user.id.clone(),
        csrf: csrf.clone(),
        acting_for: None,
        expires_at: now() + state.config.session_ttl,
        scope: None,
    };
    let mut context = client.context();
    context.actor = Some(user.id.clone());
    state.store.create_session(&session, &context).await?;
    let mut response = (
        status,
        Json(LoginOut {
            user,
            csrf_token: csrf.clone(),
        }),
    )
        .into_response();
    for cookie in session_cookies(&state.config, &token, &csrf) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `POST /auth/register` body.
#[derive(Debug, Deserialize)]
pub struct RegisterForm {
    /// Phone number.
    pub phone: String,
    /// The register code sent to it.
    pub code: String,
    /// Password.
    pub password: String,
    /// Display name (replaced by the legal name after real-name verification).
    pub name: String,
}

/// `POST /auth/register`: 201 and a session.
pub async fn register(
    State(state): State<Arc<AppState>>,
    client: Client,
    Body(form): Body<RegisterForm>,
) -> ApiResult<Response> {
    auth_limit(&state, &client, "register")?;
    let phone = form.phone.trim();
    check_phone(phone)?;
    check_password(&form.password)?;
    check_display_name(&form.name)?;
    use_code(&state, CodePurpose::Register, phone, &form.code).await?;
    let password_hash = hash(form.password).await?;
    let user = match state
        .store
        .create_user(phone, form.name.trim(), &password_hash, false, &client.context())
        .await
    {
        Ok(user) => user,
        // The number was invited to sign before: the code proved it, the account is theirs.
        Err(StoreError::Conflict(what)) => state
            .store
            .claim_guest(phone, form.name.trim(), &password_hash, &client.context())
            .await?
            .ok_or(StoreError::Conflict(what))?,
        Err(err) => return Err(err.into()),
    };
    start_session(&state, user, &client, StatusCode::CREATED).await
}

/// `POST /auth/login` body: a password or a login code.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// Phone number ("admin" for the bootstrap administrator).
    pub phone: String,
    /// Password.
    pub password: Option<String>,
    /// Or a login code.
    pub code: Option<String>,
}

/// A password-less account made for an unregistered signer: it signs through its SMS links
/// (scoped sessions) until the person registers the number, which takes the account over.
fn guest_account() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "guest",
        "this number was invited to sign through a link: open the link in the SMS, or register the number to use the portal",
    )
}

fn bad_login() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "bad_credentials",
        "wrong phone number or password",
    )
}

/// `POST /auth/login`.
pub async fn login(
    State(state): State<Arc<AppState>>,
    client: Client,
    Body(form): Body<LoginForm>,
) -> ApiResult<Response> {
    auth_limit(&state, &client, "login")?;
    let phone = form.phone.trim();
    let policy = LockoutPolicy::default();
    let user = match state.store.user_by_phone(phone).await {
        Ok(user) => Some(user),
        Err(StoreError::NotFound(_)) => None,
        Err(err) => return Err(err.into()),
    };
    match (form.password, form.code) {
        (Some(password), None) => {
            let Some(user) = user else {
                let _ = verify(password, DUMMY_HASH.into()).await;
                return Err(bad_login());
            };
            policy.check(now(), user.locked_until)?;
            if !verify(password, user.password_hash.clone()).await? {
                let mut context = client.context();
                context.actor = Some(user.id.clone());
                state
                    .store
                    .login_failed(&user.id, policy.max_failures, policy.lock_for, &context)
                    .await?;
                return Err(bad_login());
            }
            // Parallel wrong guesses may have locked the account while this one was hashed.
            let user = state.store.user(&user.id).await?;
            policy.check(now(), user.locked_until)?;
            if user.disabled {
                return Err(bad_login());
            }
            state.store.login_succeeded(&user.id).await?;
            start_session(&state, user, &client, StatusCode::OK).await
        }
        (None, Some(code)) => {
            use_code(&state, CodePurpose::Login, phone, &code).await?;
            let user = user.filter(|u| !u.disabled).ok_or_else(bad_login)?;
            if user.guest {
                return Err(guest_account());
            }
            start_session(&state, user, &client, StatusCode::OK).await
        }
        _ => Err(ApiError::invalid("give either password or code")),
    }
}

/// `POST /auth/logout`.
pub async fn logout(State(state): State<Arc<AppState>>, caller: Caller) -> ApiResult<Response> {
    state
        .store
        .delete_session(&caller.session.id, &caller.context())
        .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    for cookie in clear_cookies() {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `POST /auth/reset-password` body.
#[derive(Debug, Deserialize)]
pub struct ResetForm {
    /// Phone number.
    pub phone: String,
    /// The reset code.
    pub code: String,
    /// New password.
    pub password: String,
}

/// `POST /auth/reset-password`: sets the password, unlocks, ends every session.
pub async fn reset_password(
    State(state): State<Arc<AppState>>,
    client: Client,
    Body(form): Body<ResetForm>,
) -> ApiResult<StatusCode> {
    auth_limit(&state, &client, "reset")?;
    let phone = form.phone.trim();
    check_password(&form.password)?;
    use_code(&state, CodePurpose::ResetPassword, phone, &form.code).await?;
    let user = state.store.user_by_phone(phone).await?;
    let password_hash = hash(form.password).await?;
    let mut context = client.context();
    context.actor = Some(user.id.clone());
    state
        .store
        .set_password(&user.id, &password_hash, None, "user.password_reset", &context)
        .await?;
    state
        .notifier
        .send("sms", &user.phone, &user.locale, &Template::PasswordChanged)
        .await
        .ok();
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /me`.
#[derive(Debug, Serialize)]
pub struct MeOut {
    /// The account.
    pub user: User,
    /// Real-name status.
    pub identity: crate::api::identity::IdentityOut,
    /// Organizations and roles.
    pub orgs: Vec<MembershipOut>,
    /// The organization acted for, if any.
    pub acting_for: Option<String>,
    /// The CSRF token of this session.
    pub csrf_token: String,
}

/// A membership as shown.
#[derive(Debug, Serialize)]
pub struct MembershipOut {
    /// Organization id.
    pub org_id: String,
    /// Its name.
    pub name: String,
    /// internal or external.
    pub kind: &'static str,
    /// The role.
    pub role: &'static str,
}

/// `GET /me`.
pub async fn me(State(state): State<Arc<AppState>>, caller: Caller) -> ApiResult<Json<MeOut>> {
    let mut orgs = Vec::new();
    for m in &caller.actor.memberships {
        let org = state.store.org(&m.org_id).await?;
        orgs.push(MembershipOut {
            org_id: org.id,
            name: org.name,
            kind: org.kind.as_str(),
            role: m.role.as_str(),
        });
    }
    let identity = crate::api::identity::status(State(state.clone()), caller.clone())
        .await?
        .0;
    Ok(Json(MeOut {
        user: caller.user,
        identity,
        orgs,
        acting_for: caller.session.acting_for,
        csrf_token: caller.session.csrf,
    }))
}

/// `POST /me/password` body.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    /// The current password.
    pub current: String,
    /// The new one.
    pub new: String,
}

/// `POST /me/password`: other sessions end.
pub async fn change_password(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(form): Body<PasswordForm>,
) -> ApiResult<StatusCode> {
    state.limiter.check(&format!("password:{}", caller.user.id), 10)?;
    check_password(&form.new)?;
    if !verify(form.current, caller.user.password_hash.clone()).await? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "bad_credentials",
            "the current password is wrong",
        ));
    }
    let password_hash = hash(form.new).await?;
    state
        .store
        .set_password(
            &caller.user.id,
            &password_hash,
            Some(&caller.session.id),
            "user.password_changed",
            &caller.context(),
        )
        .await?;
    state
        .notifier
        .send(
            "sms",
            &caller.user.phone,
            &caller.user.locale,
            &Template::PasswordChanged,
        )
        .await
        .ok();
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /me/phone` body.
#[derive(Debug, Deserialize)]
pub struct PhoneForm {
    /// The new number.
    pub phone: String,
    /// The change_phone code sent to it.
    pub code: String,
    /// The account password (a stolen session alone cannot move the account).
    pub password: String,
}

/// `POST /me/phone`.
pub async fn change_phone(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(form): Body<PhoneForm>,
) -> ApiResult<StatusCode> {
    let phone = form.phone.trim();
    check_phone(phone)?;
    if !verify(form.password, caller.user.password_hash.clone()).await? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "bad_credentials",
            "the password is wrong",
        ));
    }
    use_code(&state, CodePurpose::ChangePhone, phone, &form.code).await?;
    state
        .store
        .set_phone(&caller.user.id, phone, &caller.context())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /me/email` body.
#[derive(Debug, Deserialize)]
pub struct EmailForm {
    /// The new address.
    pub email: String,
    /// The change_email code sent to it.
    pub code: String,
}

/// `POST /me/email`.
pub async fn change_email(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(form): Body<EmailForm>,
) -> ApiResult<StatusCode> {
    let email = form.email.trim();
    check_email(email)?;
    use_code(&state, CodePurpose::ChangeEmail, email, &form.code).await?;
    state
        .store
        .set_email(&caller.user.id, email, &caller.context())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /me/locale` body.
#[derive(Debug, Deserialize)]
pub struct LocaleForm {
    /// zh-CN or en.
    pub locale: String,
}

/// `PUT /me/locale`.
pub async fn set_locale(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(form): Body<LocaleForm>,
) -> ApiResult<StatusCode> {
    if !matches!(form.locale.as_str(), "zh-CN" | "en") {
        return Err(ApiError::invalid("locale must be zh-CN or en"));
    }
    state
        .store
        .set_locale(&caller.user.id, &form.locale, &caller.context())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /me/acting-for` body.
#[derive(Debug, Deserialize)]
pub struct ActingForForm {
    /// The organization, or null for oneself.
    pub org_id: Option<String>,
}

/// `PUT /me/acting-for` (S 3.2: switch between oneself and one's organizations).
pub async fn set_acting_for(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(form): Body<ActingForForm>,
) -> ApiResult<StatusCode> {
    if let Some(org_id) = &form.org_id {
        let org = match state.store.org(org_id).await {
            Ok(org) => org,
            Err(StoreError::NotFound(_)) => return Err(ApiError::not_found("organization")),
            Err(err) => return Err(err.into()),
        };
        caller.actor.may(
            OrgAction::ActFor,
            OrgRef {
                id: &org.id,
                kind: org.kind,
            },
        )?;
    }
    state
        .store
        .set_acting_for(&caller.session.id, form.org_id.as_deref(), &caller.context())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /me/trail`: the caller's own account events.
pub async fn my_trail(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<PageOut<TrailEvent>>> {
    Ok(Json(
        state
            .store
            .trail_page(&format!("user:{}", caller.user.id), query.cursor(), query.limit())
            .await?
            .into(),
    ))
}

/// `GET /me/messages`: in-app messages.
pub async fn messages(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<PageOut<qz_store::Message>>> {
    Ok(Json(
        state
            .store
            .inbox_page(&caller.user.id, query.cursor(), query.limit())
            .await?
            .into(),
    ))
}

/// `POST /me/messages/{id}/read`.
pub async fn mark_read(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.store.mark_read(&caller.user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
