//! The canonical key order of every mapping `fmt` knows: the order in which
//! our own types declare their fields (which is also the order `export`
//! writes them in), read from the types themselves so that a new field needs
//! no change here. Keys no type declares keep their order, after the known
//! ones. Free-form mappings (settings, `inputSchema`) are never reordered.

use serde::de::{self, Deserialize, Visitor};

use crate::manifest::kinds::{
    Doc, Metadata, ModuleEntry, ModulesSpec, NetworkEntry, SecretEntry, ServerScopedMetadata,
    ServerSpec, SourceAuth, SourceMetadata, SourceSpec, ToolSpec, TunnelSpec, TunnelToken,
    ValueFrom,
};

/// Where a mapping sits, which decides its key order and its children's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctx {
    /// Unknown or free-form: keys keep their order; children too.
    Free,
    /// A manifest document of a kind (`apiVersion`, `kind`, `metadata`, `spec`).
    Doc(Kind),
    /// `metadata` of a kind.
    Metadata(Kind),
    /// `spec` of a kind.
    Spec(Kind),
    /// A server's `secrets[]` entry.
    Secret,
    /// `valueFrom`.
    ValueFrom,
    /// A server's `network[]` entry.
    Network,
    /// An external source's `auth`.
    SourceAuth,
    /// A tunnel's `token`.
    TunnelToken,
    /// A `modules[]` entry.
    Module,
    /// The root of `approvals.yaml`.
    Approvals,
    /// One pin of `approvals.yaml`.
    Pin,
    /// The root of `mcpbox-gitops.yaml`.
    Policy,
    /// `approval` of the policy.
    ApprovalPolicy,
    /// `deletionGuard` of the policy.
    DeletionGuard,
    /// `values` of the policy.
    ValuesPolicy,
}

/// The manifest kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `kind: Server`.
    Server,
    /// `kind: Tool`.
    Tool,
    /// `kind: ExternalSource`.
    Source,
    /// `kind: Modules`.
    Modules,
    /// `kind: Settings`.
    Settings,
    /// `kind: TunnelConfiguration`.
    Tunnel,
}

impl Kind {
    /// The kind a document's `kind:` value names.
    pub fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "Server" => Kind::Server,
            "Tool" => Kind::Tool,
            "ExternalSource" => Kind::Source,
            "Modules" => Kind::Modules,
            "Settings" => Kind::Settings,
            "TunnelConfiguration" => Kind::Tunnel,
            _ => return None,
        })
    }
}

impl Ctx {
    /// The context of the value under `key` of a mapping in this context (for a
    /// sequence value, the context of its items).
    pub fn child(self, key: &str) -> Ctx {
        match (self, key) {
            (Ctx::Doc(k), "metadata") => Ctx::Metadata(k),
            (Ctx::Doc(k), "spec") => Ctx::Spec(k),
            (Ctx::Spec(Kind::Server), "secrets") => Ctx::Secret,
            (Ctx::Spec(Kind::Server), "network") => Ctx::Network,
            (Ctx::Secret, "valueFrom") => Ctx::ValueFrom,
            (Ctx::Spec(Kind::Source), "auth") => Ctx::SourceAuth,
            (Ctx::Spec(Kind::Tunnel), "token") => Ctx::TunnelToken,
            (Ctx::TunnelToken, "valueFrom") => Ctx::ValueFrom,
            (Ctx::Spec(Kind::Modules), "modules") => Ctx::Module,
            (Ctx::Approvals, "approvals") => Ctx::Pin,
            (Ctx::Policy, "approval") => Ctx::ApprovalPolicy,
            (Ctx::Policy, "deletionGuard") => Ctx::DeletionGuard,
            (Ctx::Policy, "values") => Ctx::ValuesPolicy,
            _ => Ctx::Free,
        }
    }

    /// The declared field order of this context, or `None` to keep the order
    /// as written.
    pub fn fields(self) -> Option<&'static [&'static str]> {
        type Any = serde_yaml::Value;
        Some(match self {
            Ctx::Free | Ctx::Spec(Kind::Settings) => return None,
            Ctx::Doc(_) => fields::<Doc<Any, Any>>(),
            Ctx::Metadata(Kind::Tool) => fields::<ServerScopedMetadata>(),
            Ctx::Metadata(Kind::Source) => fields::<SourceMetadata>(),
            Ctx::Metadata(_) => fields::<Metadata>(),
            Ctx::Spec(Kind::Server) => fields::<ServerSpec>(),
            Ctx::Spec(Kind::Tool) => fields::<ToolSpec>(),
            Ctx::Spec(Kind::Source) => fields::<SourceSpec>(),
            Ctx::Spec(Kind::Modules) => fields::<ModulesSpec>(),
            Ctx::Spec(Kind::Tunnel) => fields::<TunnelSpec>(),
            Ctx::Secret => fields::<SecretEntry>(),
            Ctx::ValueFrom => fields::<ValueFrom>(),
            Ctx::Network => fields::<NetworkEntry>(),
            Ctx::SourceAuth => fields::<SourceAuth>(),
            Ctx::TunnelToken => fields::<TunnelToken>(),
            Ctx::Module => fields::<ModuleEntry>(),
            Ctx::Approvals => &["approvals"],
            Ctx::Pin => fields::<crate::approvals::Pin>(),
            Ctx::Policy => fields::<crate::policy::Policy>(),
            Ctx::ApprovalPolicy => fields::<crate::policy::ApprovalPolicy>(),
            Ctx::DeletionGuard => fields::<crate::policy::DeletionGuard>(),
            Ctx::ValuesPolicy => fields::<crate::policy::ValuesPolicy>(),
        })
    }

    /// Whether the mapping's keys may be reordered at all (`inputSchema` and
    /// everything below it is data: never touched).
    pub fn opaque_child(self, key: &str) -> bool {
        matches!((self, key), (Ctx::Spec(Kind::Tool), "inputSchema"))
    }
}

/// Sorts `keys` (indices into a mapping's entries, with their key text) into
/// the canonical order for `ctx`: declared fields first, in declaration
/// order, then the rest as written.
pub fn canonical(ctx: Ctx, keys: &[&str]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    if let Some(fields) = ctx.fields() {
        let rank = |k: &str| fields.iter().position(|f| *f == k).unwrap_or(fields.len());
        // Stable: unknown keys keep their relative order.
        order.sort_by_key(|&i| rank(keys[i]));
    }
    order
}

/// The fields a struct's derived `Deserialize` asks for, in declaration order
/// and with serde's renames applied. serde hands them to the deserializer in
/// `deserialize_struct`; this one records them and stops.
fn fields<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    match T::deserialize(FieldRecorder) {
        Err(Recorded(fields)) => fields,
        // A type that is not a struct has no fields to order by.
        Ok(_) => &[],
    }
}

struct FieldRecorder;

#[derive(Debug)]
struct Recorded(&'static [&'static str]);

impl std::fmt::Display for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fields recorded")
    }
}

impl std::error::Error for Recorded {}

impl de::Error for Recorded {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Recorded(&[])
    }
}

impl<'de> de::Deserializer<'de> for FieldRecorder {
    type Error = Recorded;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Recorded> {
        Err(Recorded(&[]))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Recorded> {
        Err(Recorded(fields))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_come_from_the_types_in_declaration_order() {
        assert_eq!(
            Ctx::Doc(Kind::Tool).fields(),
            Some(&["apiVersion", "kind", "metadata", "spec"][..])
        );
        let tool = Ctx::Spec(Kind::Tool).fields().unwrap_or_default();
        assert_eq!(tool.first(), Some(&"type"));
        let pos = |k: &str| tool.iter().position(|f| *f == k);
        assert!(pos("description") < pos("code"));
        assert!(pos("code") < pos("inputSchema"));
        assert_eq!(
            Ctx::Network.fields(),
            Some(&["host", "port", "justification", "tool"][..])
        );
        assert!(Ctx::Spec(Kind::Settings).fields().is_none());
        assert_eq!(
            Ctx::Pin.fields().map(|f| f[..3].to_vec()),
            Some(vec!["tool", "sha256", "approvedBy"])
        );
    }

    #[test]
    fn unknown_keys_follow_known_ones_in_written_order() {
        let keys = ["zeta", "spec", "alpha", "kind", "apiVersion"];
        let order = canonical(Ctx::Doc(Kind::Server), &keys);
        let sorted: Vec<&str> = order.iter().map(|&i| keys[i]).collect();
        assert_eq!(sorted, ["apiVersion", "kind", "spec", "zeta", "alpha"]);
        let free = canonical(Ctx::Free, &keys);
        assert_eq!(free, [0, 1, 2, 3, 4]);
    }
}
