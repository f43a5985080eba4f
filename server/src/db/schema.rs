//! The one hand-written diesel schema, shared by both backends. Ids are `BigInt` on both;
//! times are Unix seconds (or milliseconds where named `_ms`) so both backends store them
//! the same way.

diesel::table! {
    users (id) {
        id -> BigInt,
        name -> Text,
        password_hash -> Text,
        role -> Text,
        enabled -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    tokens (id) {
        id -> BigInt,
        token_hash -> Text,
        user_id -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    machines (id) {
        id -> BigInt,
        name -> Text,
        bmc_host -> Text,
        bmc_port -> Integer,
        bmc_user -> Text,
        bmc_password_enc -> Text,
        cipher_suite -> Integer,
        description -> Text,
        created_at -> BigInt,
        driver -> Text,
        redfish_system -> Nullable<Text>,
        tls_pin -> Nullable<Text>,
        tls_ca -> Nullable<Text>,
    }
}

diesel::table! {
    permissions (id) {
        id -> BigInt,
        user_id -> BigInt,
        machine_id -> BigInt,
        role -> Text,
    }
}

diesel::table! {
    audit (id) {
        id -> BigInt,
        at_ms -> BigInt,
        user_name -> Text,
        command -> Text,
        machine -> Nullable<Text>,
        outcome -> Text,
        duration_ms -> BigInt,
        detail -> Nullable<Text>,
        params -> Nullable<Text>,
    }
}

diesel::joinable!(tokens -> users (user_id));
diesel::joinable!(permissions -> users (user_id));
diesel::joinable!(permissions -> machines (machine_id));
diesel::allow_tables_to_appear_in_same_query!(users, tokens, machines, permissions, audit);
