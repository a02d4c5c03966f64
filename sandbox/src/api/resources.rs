//! The JSON of `account/~` and `extension/~`, in the shapes of RingCentral's AccountInfo and
//! GetExtensionInfoResponse (only the fields an app like rc-pkce plausibly reads, all realistic).

use serde_json::{Value, json};

use crate::seed::User;

fn home_country(base: &str) -> Value {
    json!({
        "uri": format!("{base}/restapi/v1.0/dictionary/country/1"),
        "id": "1",
        "name": "United States",
        "isoCode": "US",
        "callingCode": "1",
    })
}

/// RingCentral's timezone dictionary id and bias (minutes) for the seeded zones.
fn timezone(base: &str, user: &User) -> Value {
    let (name, description) = &user.timezone;
    let (id, bias) = match name.as_str() {
        "America/Los_Angeles" => ("58", "-480"),
        "America/Denver" => ("57", "-420"),
        "America/Chicago" => ("56", "-360"),
        "America/New_York" => ("60", "-300"),
        _ => ("1", "0"),
    };
    json!({
        "uri": format!("{base}/restapi/v1.0/dictionary/timezone/{id}"),
        "id": id,
        "name": name,
        "description": description,
        "bias": bias,
    })
}

fn regional_settings(base: &str, user: &User) -> Value {
    let english = json!({ "id": "1033", "name": "English (United States)", "localeCode": "en-US" });
    json!({
        "homeCountry": home_country(base),
        "timezone": timezone(base, user),
        "language": english.clone(),
        "greetingLanguage": english.clone(),
        "formattingLocale": english,
        "timeFormat": "12h",
    })
}

pub fn account_uri(base: &str, user: &User) -> String {
    format!("{base}/restapi/v1.0/account/{}", user.account.id)
}

pub fn extension_uri(base: &str, user: &User) -> String {
    format!(
        "{}/extension/{}",
        account_uri(base, user),
        user.extension_id
    )
}

/// `GET /restapi/v1.0/account/~`.
pub fn account_json(base: &str, user: &User) -> Value {
    let a = &user.account;
    let uri = account_uri(base, user);
    json!({
        "uri": uri,
        "id": a.id,
        "serviceInfo": {
            "uri": format!("{uri}/service-info"),
            "brand": { "id": "1210", "name": "RingCentral", "homeCountry": home_country(base) },
            "servicePlan": { "id": "25144", "name": a.service_plan, "edition": a.edition, "freemiumProductType": "Freyja" },
            "billingPlan": { "id": "40004", "name": format!("Monthly-{}", a.edition), "durationUnit": "Month", "duration": 1, "type": "Regular" },
        },
        "operator": {
            "uri": format!("{uri}/extension/{}", a.operator_extension_id),
            "id": a.operator_extension_id,
            "extensionNumber": a.operator_extension_number,
        },
        "mainNumber": a.main_number,
        "status": "Confirmed",
        "setupWizardState": "Completed",
        "signupInfo": { "signupState": ["AccountConfirmed"] },
        "regionalSettings": regional_settings(base, user),
        "federated": false,
        "outboundCallPrefix": 9,
    })
}

/// `GET /restapi/v1.0/account/~/extension/~`.
pub fn extension_json(base: &str, user: &User) -> Value {
    let uri = extension_uri(base, user);
    let admin = user.extension_id == user.account.operator_extension_id;
    json!({
        "uri": uri,
        "id": user.extension_id,
        "extensionNumber": user.extension_number,
        "contact": {
            "firstName": user.first_name,
            "lastName": user.last_name,
            "company": user.account.company,
            "jobTitle": user.job_title,
            "email": user.email,
            "businessPhone": user.business_phone,
            "mobilePhone": user.mobile_phone,
            "department": user.department,
            "emailAsLoginName": true,
            "pronouncedName": { "type": "Default" },
        },
        "name": user.full_name(),
        "type": "User",
        "status": "Enabled",
        "account": { "uri": account_uri(base, user), "id": user.account.id.to_string() },
        "permissions": {
            "admin": { "enabled": admin },
            "internationalCalling": { "enabled": false },
        },
        "profileImage": { "uri": format!("{uri}/profile-image") },
        "regionalSettings": regional_settings(base, user),
        "serviceFeatures": [
            { "featureName": "CallLog", "enabled": true },
            { "featureName": "SMS", "enabled": true },
            { "featureName": "Fax", "enabled": true },
            { "featureName": "InternationalCalling", "enabled": false, "reason": { "code": "AccountLimitation", "message": "The feature is turned off for the account" } },
            { "featureName": "CallRecording", "enabled": false, "reason": { "code": "ExtensionLimitation", "message": "The feature is turned off for the extension" } },
        ],
        "setupWizardState": "Completed",
        "hidden": false,
    })
}
