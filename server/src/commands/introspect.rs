//! Introspection, FreeIPA's set (level 1.1): `command-find`, `command-show`, `param-find`,
//! `output-find`, `topic-find`, `topic-show`, `class-find`, `class-show`. They read the
//! schema document of the served level, so a pinned server describes exactly what it serves.

use schema::{CommandDef, CommandName, SchemaDocument};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access::Access;
use crate::error::ApiError;
use crate::registry::{CommandSpec, Out, command};
use crate::state::Ctx;

/// One attribute of a class or field of an output (the wire twin of `schema::Attribute`,
/// which stays free of schemars).
#[derive(Clone, Serialize, JsonSchema)]
pub struct AttributeOut {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub doc: String,
}

impl From<&schema::Attribute> for AttributeOut {
    fn from(a: &schema::Attribute) -> Self {
        AttributeOut {
            name: a.name.clone(),
            ty: a.ty.clone(),
            doc: a.doc.clone(),
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct ParamInfo {
    /// Name in `params`.
    pub name: String,
    /// Name on the command line.
    pub cli_name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub required: bool,
    /// Position among positional arguments, if positional.
    pub positional: Option<u64>,
    /// A secret: prompted without echo, never shown or logged.
    pub sensitive: bool,
    /// Default applied by the server when the parameter is not given.
    pub default: Option<Value>,
    pub doc: String,
}

pub fn params_of(def: &CommandDef) -> Vec<ParamInfo> {
    let mut list: Vec<ParamInfo> = schema::params::params(&def.params)
        .into_iter()
        .map(|p| ParamInfo {
            name: p.key,
            cli_name: p.cli_name,
            ty: p.type_name,
            required: p.required,
            positional: p.positional,
            sensitive: p.sensitive,
            default: p.default,
            doc: p.doc.unwrap_or_default(),
        })
        .collect();
    // Positionals first in their order, then flags by name: the order a user reads them.
    list.sort_by(|a, b| {
        (a.positional.is_none(), a.positional, &a.name).cmp(&(
            b.positional.is_none(),
            b.positional,
            &b.name,
        ))
    });
    list
}

#[derive(Serialize, JsonSchema)]
pub struct CommandSummary {
    pub full_name: String,
    pub name: String,
    pub version: u32,
    pub topic: String,
    pub since: String,
    pub summary: String,
}

#[derive(Serialize, JsonSchema)]
pub struct CommandShow {
    pub full_name: String,
    pub name: String,
    pub version: u32,
    /// Every version of this command served at this level.
    pub versions: Vec<u32>,
    pub topic: String,
    pub object: Option<String>,
    pub method: Option<String>,
    pub since: String,
    pub removed: Option<String>,
    /// Who may call it: user, admin, viewer or operator (on the named machine).
    pub access: String,
    pub doc: String,
    pub params: Vec<ParamInfo>,
    pub output: Vec<AttributeOut>,
}

#[derive(Serialize, JsonSchema)]
pub struct TopicOut {
    pub name: String,
    pub doc: String,
    /// Full names of its commands.
    pub commands: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct ClassOut {
    pub name: String,
    pub doc: String,
    pub attributes: Vec<AttributeOut>,
    /// Full names of the commands acting on it.
    pub commands: Vec<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Criteria {
    /// Only entries whose name or doc contains this text.
    #[schemars(extend("x-igor-positional" = 0))]
    pub criteria: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandFind {
    /// Only commands whose name or doc contains this text.
    #[schemars(extend("x-igor-positional" = 0))]
    pub criteria: Option<String>,
    /// Only commands of this topic.
    pub topic: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandRef {
    /// NAME (its newest version here) or NAME/VERSION.
    #[schemars(extend("x-igor-positional" = 0))]
    pub command: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NameRef {
    /// Name.
    #[schemars(extend("x-igor-positional" = 0))]
    pub name: String,
}

pub fn specs() -> Vec<CommandSpec> {
    vec![
        command(
            "command-find",
            1,
            "1.1",
            "schema",
            Access::User,
            "List commands",
            command_find,
        ),
        command(
            "command-show",
            1,
            "1.1",
            "schema",
            Access::User,
            "Show one command version: doc, parameters and output\nNAME alone shows its newest version at this level.",
            command_show,
        ),
        command(
            "param-find",
            1,
            "1.1",
            "schema",
            Access::User,
            "List the parameters of a command version",
            param_find,
        ),
        command(
            "output-find",
            1,
            "1.1",
            "schema",
            Access::User,
            "List the output fields of a command version",
            output_find,
        ),
        command(
            "topic-find",
            1,
            "1.1",
            "schema",
            Access::User,
            "List topics",
            topic_find,
        ),
        command(
            "topic-show",
            1,
            "1.1",
            "schema",
            Access::User,
            "Show a topic and its commands",
            topic_show,
        ),
        command(
            "class-find",
            1,
            "1.1",
            "schema",
            Access::User,
            "List classes (objects)",
            class_find,
        ),
        command(
            "class-show",
            1,
            "1.1",
            "schema",
            Access::User,
            "Show a class: its attributes and commands",
            class_show,
        ),
    ]
}

fn matches(criteria: &Option<String>, fields: &[&str]) -> bool {
    match criteria {
        None => true,
        Some(c) => {
            let c = c.to_lowercase();
            fields.iter().any(|f| f.to_lowercase().contains(&c))
        }
    }
}

fn lookup<'a>(doc: &'a SchemaDocument, text: &str) -> Result<&'a CommandDef, ApiError> {
    let unknown = || ApiError::UnknownCommand(text.to_owned());
    let name: CommandName = text.parse().map_err(|_| unknown())?;
    match name.version {
        Some(v) => doc.command(&name.name, v),
        None => doc.latest(&name.name),
    }
    .ok_or_else(unknown)
}

async fn command_find(ctx: Ctx, p: CommandFind) -> Result<Out<Vec<CommandSummary>>, ApiError> {
    let doc = &ctx.state.published.document;
    let list: Vec<CommandSummary> = doc
        .commands
        .iter()
        .filter(|c| p.topic.as_ref().is_none_or(|t| &c.topic == t))
        .filter(|c| matches(&p.criteria, &[&c.full_name, &c.doc]))
        .map(|c| CommandSummary {
            full_name: c.full_name.clone(),
            name: c.name.clone(),
            version: c.version,
            topic: c.topic.clone(),
            since: c.since.to_string(),
            summary: c.summary().to_owned(),
        })
        .collect();
    let summary = format!("{} command version(s)", list.len());
    Ok(Out::new(list, summary))
}

async fn command_show(ctx: Ctx, p: CommandRef) -> Result<Out<CommandShow>, ApiError> {
    let doc = &ctx.state.published.document;
    let def = lookup(doc, &p.command)?;
    let versions = doc
        .commands
        .iter()
        .filter(|c| c.name == def.name)
        .map(|c| c.version)
        .collect();
    let show = CommandShow {
        full_name: def.full_name.clone(),
        name: def.name.clone(),
        version: def.version,
        versions,
        topic: def.topic.clone(),
        object: def.object.clone(),
        method: def.method.clone(),
        since: def.since.to_string(),
        removed: def.removed.map(|r| r.to_string()),
        access: def.access.clone(),
        doc: def.doc.clone(),
        params: params_of(def),
        output: schema::params::attributes(&def.output)
            .iter()
            .map(AttributeOut::from)
            .collect(),
    };
    let summary = format!("{}: {}", def.full_name, def.summary());
    Ok(Out::new(show, summary))
}

async fn param_find(ctx: Ctx, p: CommandRef) -> Result<Out<Vec<ParamInfo>>, ApiError> {
    let def = lookup(&ctx.state.published.document, &p.command)?;
    let list = params_of(def);
    let summary = format!("{} parameter(s) of {}", list.len(), def.full_name);
    Ok(Out::new(list, summary))
}

async fn output_find(ctx: Ctx, p: CommandRef) -> Result<Out<Vec<AttributeOut>>, ApiError> {
    let def = lookup(&ctx.state.published.document, &p.command)?;
    let list: Vec<AttributeOut> = schema::params::attributes(&def.output)
        .iter()
        .map(AttributeOut::from)
        .collect();
    let summary = format!("{} output field(s) of {}", list.len(), def.full_name);
    Ok(Out::new(list, summary))
}

fn topic_out(doc: &SchemaDocument, t: &schema::Topic) -> TopicOut {
    TopicOut {
        name: t.name.clone(),
        doc: t.doc.clone(),
        commands: doc
            .commands
            .iter()
            .filter(|c| c.topic == t.name)
            .map(|c| c.full_name.clone())
            .collect(),
    }
}

async fn topic_find(ctx: Ctx, p: Criteria) -> Result<Out<Vec<TopicOut>>, ApiError> {
    let doc = &ctx.state.published.document;
    let list: Vec<TopicOut> = doc
        .topics
        .iter()
        .filter(|t| matches(&p.criteria, &[&t.name, &t.doc]))
        .map(|t| topic_out(doc, t))
        .collect();
    let summary = format!("{} topic(s)", list.len());
    Ok(Out::new(list, summary))
}

async fn topic_show(ctx: Ctx, p: NameRef) -> Result<Out<TopicOut>, ApiError> {
    let doc = &ctx.state.published.document;
    let t = doc
        .topics
        .iter()
        .find(|t| t.name == p.name)
        .ok_or_else(|| ApiError::not_found("topic", &p.name))?;
    Ok(Out::new(topic_out(doc, t), format!("topic '{}'", t.name)))
}

fn class_out(doc: &SchemaDocument, c: &schema::Class) -> ClassOut {
    ClassOut {
        name: c.name.clone(),
        doc: c.doc.clone(),
        attributes: c.attributes.iter().map(AttributeOut::from).collect(),
        commands: doc
            .commands
            .iter()
            .filter(|d| d.object.as_deref() == Some(c.name.as_str()))
            .map(|d| d.full_name.clone())
            .collect(),
    }
}

async fn class_find(ctx: Ctx, p: Criteria) -> Result<Out<Vec<ClassOut>>, ApiError> {
    let doc = &ctx.state.published.document;
    let list: Vec<ClassOut> = doc
        .classes
        .iter()
        .filter(|c| matches(&p.criteria, &[&c.name, &c.doc]))
        .map(|c| class_out(doc, c))
        .collect();
    let summary = format!("{} class(es)", list.len());
    Ok(Out::new(list, summary))
}

async fn class_show(ctx: Ctx, p: NameRef) -> Result<Out<ClassOut>, ApiError> {
    let doc = &ctx.state.published.document;
    let c = doc
        .classes
        .iter()
        .find(|c| c.name == p.name)
        .ok_or_else(|| ApiError::not_found("class", &p.name))?;
    Ok(Out::new(class_out(doc, c), format!("class '{}'", c.name)))
}
