//! The expansion of `#[derive(Model)]`: attribute parsing, type inference and code generation.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, GenericArgument, Ident, Lit, LitStr, PathArguments, Type};

type Result<T> = syn::Result<T>;

/// Struct-level `#[calcine(...)]` settings.
struct ContainerAttrs {
    table: Option<LitStr>,
    krate: Option<syn::Path>,
}

/// One field and its `#[calcine(...)]` settings.
struct FieldSpec {
    ident: Ident,
    column: String,
    /// The field type with any `Option<...>` stripped.
    inner: TokenStream,
    /// The field type's span, for type errors in the generated code.
    ty_span: Span,
    optional: bool,
    skip: bool,
    primary_key: bool,
    sql_type: Option<TokenStream>,
    nullable: Option<bool>,
    autoincrement: Option<bool>,
    default: Option<TokenStream>,
    server_default: Option<LitStr>,
    unique: bool,
    index: bool,
    foreign_key: Option<(String, String)>,
    on_delete: Option<(TokenStream, Span)>,
    on_update: Option<(TokenStream, Span)>,
    /// `Some` for a `Many<T>` / `One<T>` field (not a column).
    relationship: Option<RelSpec>,
}

/// A relationship field's `#[calcine(relationship(...))]` settings.
struct RelSpec {
    /// `T` of `Many<T>` / `One<T>`.
    target: TokenStream,
    /// `T` as written, for docs.
    target_name: String,
    /// `Many` (true) or `One`.
    collection: bool,
    back_populates: Option<LitStr>,
    order_by: Option<LitStr>,
    /// The `Lazy` variant.
    lazy: Option<Ident>,
    cascade: Option<CascadeSpec>,
    foreign_key: Option<LitStr>,
    secondary: Option<syn::Path>,
    passive_deletes: Option<bool>,
}

/// `Cascade`'s fields, computed at compile time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CascadeSpec {
    save_update: bool,
    merge: bool,
    delete: bool,
    delete_orphan: bool,
}

impl CascadeSpec {
    /// `Cascade::DEFAULT`: `save-update, merge`.
    const DEFAULT: CascadeSpec = CascadeSpec {
        save_update: true,
        merge: true,
        delete: false,
        delete_orphan: false,
    };
}

pub(crate) fn expand(input: &DeriveInput) -> Result<TokenStream> {
    let name = &input.ident;
    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "#[derive(Model)] does not support generic structs: a mapped model is one concrete \
             type with one table",
        ));
    }
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) => &named.named,
            _ => {
                return Err(syn::Error::new_spanned(
                    &s.fields,
                    "#[derive(Model)] needs a struct with named fields",
                ));
            }
        },
        Data::Enum(e) => {
            return Err(syn::Error::new(
                e.enum_token.span,
                "#[derive(Model)] needs a struct with named fields, not an enum",
            ));
        }
        Data::Union(u) => {
            return Err(syn::Error::new(
                u.union_token.span,
                "#[derive(Model)] needs a struct with named fields, not a union",
            ));
        }
    };

    let container = parse_container_attrs(input)?;
    let table_name = match &container.table {
        Some(t) => t.value(),
        None => format!("{}s", snake_case(&unraw(name))),
    };
    let krate = match container.krate {
        Some(p) => quote!(#p),
        None => quote!(::calcine::orm),
    };
    let p = quote!(#krate::__private);

    let mut specs = Vec::with_capacity(fields.len());
    let mut errors: Option<syn::Error> = None;
    for field in fields {
        match parse_field(field) {
            Ok(spec) => specs.push(spec),
            Err(e) => combine(&mut errors, e),
        }
    }
    if let Some(e) = errors {
        return Err(e);
    }

    let columns: Vec<&FieldSpec> = specs
        .iter()
        .filter(|s| !s.skip && s.relationship.is_none())
        .collect();
    let relationships: Vec<(&FieldSpec, &RelSpec)> = specs
        .iter()
        .filter_map(|s| s.relationship.as_ref().map(|r| (s, r)))
        .collect();
    for (i, c) in columns.iter().enumerate() {
        if let Some(prev) = columns[..i].iter().find(|o| o.column == c.column) {
            return Err(syn::Error::new(
                c.ident.span(),
                format!(
                    "column {:?} is mapped twice (also by field `{}`)",
                    c.column,
                    unraw(&prev.ident)
                ),
            ));
        }
    }
    if !columns.iter().any(|c| c.primary_key) {
        return Err(syn::Error::new(
            name.span(),
            format!(
                "#[derive(Model)] on `{name}` needs a primary key: mark at least one field \
                 #[calcine(primary_key)]"
            ),
        ));
    }

    let column_defs = columns.iter().map(|c| column_def(c, &p));
    let name_str = unraw(name);

    let getters = columns.iter().enumerate().map(|(i, c)| {
        let ident = &c.ident;
        let pp = respan(&p, c.ty_span);
        quote_spanned!(c.ty_span=> #i => #pp::Value::from(::core::clone::Clone::clone(&self.#ident)))
    });
    // Lent where the field's type implements `AsValueRef`, else converted from a clone (see
    // `calcine_orm::model::column_probe`).
    let lenders = columns.iter().enumerate().map(|(i, c)| {
        let ident = &c.ident;
        let pp = respan(&p, c.ty_span);
        quote_spanned!(c.ty_span=> #i => (&#pp::ColumnProbe(&self.#ident)).column_ref())
    });
    let setters = columns.iter().enumerate().map(|(i, c)| {
        let ident = &c.ident;
        let pp = respan(&p, c.ty_span);
        quote_spanned!(c.ty_span=> #i => self.#ident = #pp::FromValue::from_value(value)?)
    });
    let to_values = columns.iter().map(|c| {
        let ident = &c.ident;
        let pp = respan(&p, c.ty_span);
        quote_spanned!(c.ty_span=> #pp::Value::from(::core::clone::Clone::clone(&self.#ident)))
    });
    let mut column_index = 0usize;
    let inits = specs.iter().map(|s| {
        let ident = &s.ident;
        if s.skip || s.relationship.is_some() {
            quote_spanned!(s.ty_span=> #ident: ::core::default::Default::default())
        } else {
            let i = column_index;
            column_index += 1;
            let pp = respan(&p, s.ty_span);
            quote_spanned! {s.ty_span=>
                #ident: #pp::FromValue::from_value(
                    values.get_mut(#i).map_or_else(|| #pp::Value::Null, ::core::mem::take),
                )
                .map_err(|e| (#i, e))?
            }
        }
    });
    let vis = &input.vis;
    let consts = columns.iter().enumerate().map(|(i, c)| {
        let const_name = format_ident!(
            "{}",
            snake_case(&unraw(&c.ident)).to_uppercase(),
            span = c.ident.span()
        );
        let inner = &c.inner;
        let column = &c.column;
        let doc = format!("Column `{column}` of `{table_name}`.");
        let kk = respan(&krate, c.ty_span);
        quote_spanned! {c.ty_span=>
            #[doc = #doc]
            #vis const #const_name: #kk::Col<#name, #inner> = #kk::Col::new(#i, #column);
        }
    });
    let ncols = columns.len();
    let rel_consts = relationships.iter().enumerate().map(|(i, (s, r))| {
        let const_name = format_ident!(
            "{}",
            snake_case(&unraw(&s.ident)).to_uppercase(),
            span = s.ident.span()
        );
        let target = &r.target;
        let field = unraw(&s.ident);
        let doc = format!(
            "Relationship `{field}` of `{name_str}`: {} `{}`.",
            if r.collection {
                "a collection of"
            } else {
                "a reference to"
            },
            r.target_name
        );
        let kk = respan(&krate, s.ty_span);
        quote_spanned! {s.ty_span=>
            #[doc = #doc]
            #vis const #const_name: #kk::Rel<#name, #target> = #kk::Rel::new(#i, #field);
        }
    });
    let relationship_fns = if relationships.is_empty() {
        quote!()
    } else {
        let nrels = relationships.len();
        let defs = relationships
            .iter()
            .map(|(s, r)| relationship_def(s, r, &krate));
        let arms = relationships.iter().enumerate().map(|(i, (s, _))| {
            let ident = &s.ident;
            let kk = respan(&krate, s.ty_span);
            quote_spanned! {s.ty_span=>
                #i => ::core::option::Option::Some(#kk::RelationRef::from(&self.#ident))
            }
        });
        let arms_mut = relationships.iter().enumerate().map(|(i, (s, _))| {
            let ident = &s.ident;
            let kk = respan(&krate, s.ty_span);
            quote_spanned! {s.ty_span=>
                #i => ::core::option::Option::Some(#kk::RelationMut::from(&mut self.#ident))
            }
        });
        quote! {
            fn relationships() -> &'static [#krate::RelationshipDef] {
                static RELS: [#krate::RelationshipDef; #nrels] = [#(#defs),*];
                &RELS
            }

            fn relation(&self, index: usize) -> ::core::option::Option<#krate::RelationRef<'_>> {
                match index {
                    #(#arms,)*
                    _ => ::core::option::Option::None,
                }
            }

            fn relation_mut(
                &mut self,
                index: usize,
            ) -> ::core::option::Option<#krate::RelationMut<'_>> {
                match index {
                    #(#arms_mut,)*
                    _ => ::core::option::Option::None,
                }
            }
        }
    };

    Ok(quote! {
        impl #krate::Model for #name {
            fn mapper() -> &'static #krate::Mapper {
                static MAPPER: #p::OnceLock<#krate::Mapper> = #p::OnceLock::new();
                MAPPER.get_or_init(|| {
                    let table = #p::Table::new(#table_name) #(.column(#column_defs))*;
                    match #krate::Mapper::new(#name_str, table) {
                        ::core::result::Result::Ok(mapper) => mapper
                            .with_relationships(<#name as #krate::Model>::relationships()),
                        ::core::result::Result::Err(e) => ::core::panic!(
                            "invalid #[derive(Model)] definition of {}: {}", #name_str, e
                        ),
                    }
                })
            }

            fn column_value(&self, index: usize) -> #p::Value {
                match index {
                    #(#getters,)*
                    _ => #p::Value::Null,
                }
            }

            fn column_ref(&self, index: usize) -> #p::ValueRef<'_> {
                #[allow(unused_imports)]
                use #p::{CloneInto as _, LendRef as _};
                match index {
                    #(#lenders,)*
                    _ => #p::ValueRef::Null,
                }
            }

            fn set_column_value(
                &mut self,
                index: usize,
                value: #p::Value,
            ) -> ::core::result::Result<(), #p::ValueError> {
                match index {
                    #(#setters,)*
                    _ => {
                        return ::core::result::Result::Err(#p::ValueError::out_of_range(
                            "a column index",
                            &value,
                            ::std::format!("{} has {} columns, not {}", #name_str, #ncols, index + 1),
                        ));
                    }
                }
                ::core::result::Result::Ok(())
            }

            fn from_values(
                values: &mut [#p::Value],
            ) -> ::core::result::Result<Self, (usize, #p::ValueError)> {
                ::core::result::Result::Ok(#name {
                    #(#inits,)*
                })
            }

            fn to_values(&self) -> ::std::vec::Vec<#p::Value> {
                ::std::vec![#(#to_values),*]
            }

            #relationship_fns
        }

        // Column and relationship handles are a query API: unused ones are no reason to warn.
        #[allow(dead_code)]
        impl #name {
            #(#consts)*
            #(#rel_consts)*
        }
    })
}

/// `tokens` with every span set to `span`, so an error in generated code points at one place.
fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(g) = &tt {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(&g.stream(), span));
                group.set_span(span);
                tt = proc_macro2::TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

fn combine(acc: &mut Option<syn::Error>, e: syn::Error) {
    match acc {
        Some(a) => a.combine(e),
        None => *acc = Some(e),
    }
}

fn parse_container_attrs(input: &DeriveInput) -> Result<ContainerAttrs> {
    let mut attrs = ContainerAttrs {
        table: None,
        krate: None,
    };
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("calcine")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("table") {
                let lit: LitStr = meta.value()?.parse()?;
                if lit.value().is_empty() {
                    return Err(syn::Error::new(lit.span(), "the table name is empty"));
                }
                set_once(&meta, &mut attrs.table, lit)
            } else if meta.path.is_ident("crate") {
                let lit: LitStr = meta.value()?.parse()?;
                let path: syn::Path = lit.parse()?;
                set_once(&meta, &mut attrs.krate, path)
            } else {
                Err(meta.error(format!(
                    "unknown #[calcine] struct attribute `{}`; expected `table` or `crate`{}",
                    path_str(&meta.path),
                    if FIELD_KEYS.iter().any(|k| meta.path.is_ident(k)) {
                        " (it is a field attribute)"
                    } else {
                        ""
                    }
                )))
            }
        })?;
    }
    Ok(attrs)
}

const FIELD_KEYS: &[&str] = &[
    "primary_key",
    "column",
    "sql_type",
    "nullable",
    "autoincrement",
    "default",
    "server_default",
    "unique",
    "index",
    "foreign_key",
    "on_delete",
    "on_update",
    "skip",
    "relationship",
];

/// The keys inside `relationship(...)`.
const RELATIONSHIP_KEYS: &[&str] = &[
    "back_populates",
    "order_by",
    "lazy",
    "cascade",
    "foreign_key",
    "secondary",
    "passive_deletes",
];

fn set_once<T>(meta: &ParseNestedMeta<'_>, slot: &mut Option<T>, value: T) -> Result<()> {
    if slot.is_some() {
        return Err(meta.error(format!(
            "`{}` is given more than once",
            path_str(&meta.path)
        )));
    }
    *slot = Some(value);
    Ok(())
}

fn set_flag(meta: &ParseNestedMeta<'_>, flag: &mut bool) -> Result<()> {
    if *flag {
        return Err(meta.error(format!(
            "`{}` is given more than once",
            path_str(&meta.path)
        )));
    }
    *flag = true;
    Ok(())
}

fn path_str(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| unraw(&s.ident))
        .collect::<Vec<_>>()
        .join("::")
}

/// `key` alone means `true`; `key = bool` sets it explicitly.
fn optional_bool(meta: &ParseNestedMeta<'_>) -> Result<bool> {
    if meta.input.peek(syn::Token![=]) {
        let lit: syn::LitBool = meta.value()?.parse()?;
        Ok(lit.value)
    } else {
        Ok(true)
    }
}

fn parse_field(field: &syn::Field) -> Result<FieldSpec> {
    let Some(ident) = field.ident.clone() else {
        return Err(syn::Error::new_spanned(field, "expected a named field"));
    };
    let (inner_ty, optional) = match option_inner(&field.ty) {
        Some(t) => (t, true),
        None => (&field.ty, false),
    };
    let inner = quote!(#inner_ty);
    let mut column: Option<LitStr> = None;
    let mut skip = false;
    let mut other_key = None;
    let mut primary_key = false;
    let mut sql_type = None;
    let mut nullable = None;
    let mut autoincrement = None;
    let mut default = None;
    let mut server_default = None;
    let mut unique = false;
    let mut index = false;
    let mut foreign_key = None;
    let mut on_delete = None;
    let mut on_update = None;
    let rel_type = relationship_type(&field.ty);
    // The `relationship` key's span and its settings.
    let mut relationship: Option<(Span, RelAttrs)> = None;

    for attr in field.attrs.iter().filter(|a| a.path().is_ident("calcine")) {
        attr.parse_nested_meta(|meta| {
            let key_span = meta.path.span();
            if meta.path.is_ident("skip") {
                return set_flag(&meta, &mut skip);
            }
            if meta.path.is_ident("relationship") {
                let attrs = parse_relationship(&meta)?;
                return set_once(&meta, &mut relationship, (key_span, attrs));
            }
            other_key.get_or_insert((path_str(&meta.path), key_span));
            if meta.path.is_ident("primary_key") {
                set_flag(&meta, &mut primary_key)
            } else if meta.path.is_ident("column") {
                let lit: LitStr = meta.value()?.parse()?;
                if lit.value().is_empty() {
                    return Err(syn::Error::new(lit.span(), "the column name is empty"));
                }
                set_once(&meta, &mut column, lit)
            } else if meta.path.is_ident("sql_type") {
                let lit: LitStr = meta.value()?.parse()?;
                let ty = parse_sql_type(&lit)?;
                set_once(&meta, &mut sql_type, ty)
            } else if meta.path.is_ident("nullable") {
                let v = optional_bool(&meta)?;
                set_once(&meta, &mut nullable, v)
            } else if meta.path.is_ident("autoincrement") {
                let v = optional_bool(&meta)?;
                set_once(&meta, &mut autoincrement, v)
            } else if meta.path.is_ident("default") {
                let v = parse_default(&meta)?;
                set_once(&meta, &mut default, v)
            } else if meta.path.is_ident("server_default") {
                let lit: LitStr = meta.value()?.parse()?;
                set_once(&meta, &mut server_default, lit)
            } else if meta.path.is_ident("unique") {
                set_flag(&meta, &mut unique)
            } else if meta.path.is_ident("index") {
                set_flag(&meta, &mut index)
            } else if meta.path.is_ident("foreign_key") {
                let lit: LitStr = meta.value()?.parse()?;
                let target = parse_foreign_key(&lit)?;
                set_once(&meta, &mut foreign_key, target)
            } else if meta.path.is_ident("on_delete") {
                let lit: LitStr = meta.value()?.parse()?;
                let action = parse_action(&lit)?;
                set_once(&meta, &mut on_delete, (action, key_span))
            } else if meta.path.is_ident("on_update") {
                let lit: LitStr = meta.value()?.parse()?;
                let action = parse_action(&lit)?;
                set_once(&meta, &mut on_update, (action, key_span))
            } else {
                Err(meta.error(format!(
                    "unknown #[calcine] field attribute `{}`; expected one of: {}",
                    path_str(&meta.path),
                    FIELD_KEYS.join(", ")
                )))
            }
        })?;
    }

    let mut rel_spec = None;
    if let (Some((span, _)), None) = (&relationship, rel_type) {
        let hint = match option_inner(&field.ty).and_then(relationship_type) {
            Some(_) => {
                "; drop the `Option`: `One<T>` can already be unset and `Many<T>` empty".to_owned()
            }
            None => format!(" (the type of field `{}` is neither)", unraw(&ident)),
        };
        return Err(syn::Error::new(
            *span,
            format!(
                "`relationship` needs a field of type `Many<T>` (a collection) or `One<T>` \
                 (a reference){hint}"
            ),
        ));
    }
    if skip {
        if let Some((key, span)) = other_key {
            return Err(syn::Error::new(
                span,
                format!("`{key}` has no effect on a `skip` field (it is not a column)"),
            ));
        }
        if let Some((span, _)) = relationship {
            return Err(syn::Error::new(
                span,
                "`relationship` has no effect on a `skip` field (it is not mapped)",
            ));
        }
    } else if let Some((collection, target)) = rel_type {
        let kind = if collection { "Many" } else { "One" };
        if let Some((key, span)) = other_key {
            let hint = if key == "foreign_key" {
                "; to choose the foreign-key column the relationship joins on, use \
                 #[calcine(relationship(foreign_key = \"column\"))]"
            } else {
                ""
            };
            return Err(syn::Error::new(
                span,
                format!(
                    "`{key}` does not apply to relationship field `{}`: a `{kind}<_>` field is \
                     a relationship, not a column{hint}",
                    unraw(&ident)
                ),
            ));
        }
        let attrs = relationship.map(|(_, a)| a).unwrap_or_default();
        if let (false, Some(path)) = (collection, &attrs.secondary) {
            return Err(syn::Error::new_spanned(
                path,
                "`secondary` needs a `Many<T>` field: a many-to-many relationship through an \
                 association model is a collection",
            ));
        }
        rel_spec = Some(RelSpec {
            target: quote!(#target),
            target_name: type_str(target),
            collection,
            back_populates: attrs.back_populates,
            order_by: attrs.order_by,
            lazy: attrs.lazy,
            cascade: attrs.cascade,
            foreign_key: attrs.foreign_key,
            secondary: attrs.secondary,
            passive_deletes: attrs.passive_deletes,
        });
    } else {
        for (action, key) in [(&on_delete, "on_delete"), (&on_update, "on_update")] {
            if let (Some((_, span)), None) = (action, &foreign_key) {
                return Err(syn::Error::new(
                    *span,
                    format!("`{key}` needs a `foreign_key = \"table.column\"` on the same field"),
                ));
            }
        }
        if sql_type.is_none() {
            sql_type = infer_sql_type(inner_ty);
            if sql_type.is_none() {
                return Err(syn::Error::new_spanned(
                    &field.ty,
                    "cannot infer the SQL type of this field; add \
                     #[calcine(sql_type = \"...\")] (integer, bigint, smallint, float, double, \
                     numeric(P, S), text, varchar(N), boolean, bytes, date, time, timestamp, \
                     timestamptz, uuid, json) or #[calcine(skip)]",
                ));
            }
        }
    }
    Ok(FieldSpec {
        column: column.map_or_else(|| unraw(&ident), |c| c.value()),
        ident,
        inner,
        ty_span: field.ty.span(),
        optional,
        skip,
        primary_key,
        sql_type,
        nullable,
        autoincrement,
        default,
        server_default,
        unique,
        index,
        foreign_key,
        on_delete,
        on_update,
        relationship: rel_spec,
    })
}

/// The keys of one `relationship(...)`.
#[derive(Default)]
struct RelAttrs {
    back_populates: Option<LitStr>,
    order_by: Option<LitStr>,
    lazy: Option<Ident>,
    cascade: Option<CascadeSpec>,
    foreign_key: Option<LitStr>,
    secondary: Option<syn::Path>,
    passive_deletes: Option<bool>,
}

/// `relationship` alone, or `relationship(key = value, ...)`.
fn parse_relationship(meta: &ParseNestedMeta<'_>) -> Result<RelAttrs> {
    let mut attrs = RelAttrs::default();
    if meta.input.peek(syn::Token![=]) {
        return Err(meta.error(
            "`relationship` takes a list, e.g. relationship(back_populates = \"author\", \
             lazy = \"selectin\"), or nothing",
        ));
    }
    if !meta.input.peek(syn::token::Paren) {
        return Ok(attrs);
    }
    meta.parse_nested_meta(|meta| {
        if meta.path.is_ident("back_populates") {
            let lit = non_empty_str(&meta, "the back_populates attribute name")?;
            set_once(&meta, &mut attrs.back_populates, lit)
        } else if meta.path.is_ident("order_by") {
            let lit: LitStr = meta.value()?.parse()?;
            check_order_by(&lit)?;
            set_once(&meta, &mut attrs.order_by, lit)
        } else if meta.path.is_ident("lazy") {
            let lit: LitStr = meta.value()?.parse()?;
            let lazy = parse_lazy(&lit)?;
            set_once(&meta, &mut attrs.lazy, lazy)
        } else if meta.path.is_ident("cascade") {
            let lit: LitStr = meta.value()?.parse()?;
            let cascade = parse_cascade(&lit)?;
            set_once(&meta, &mut attrs.cascade, cascade)
        } else if meta.path.is_ident("foreign_key") {
            let lit = non_empty_str(&meta, "the foreign-key column name")?;
            if lit.value().contains('.') {
                return Err(syn::Error::new(
                    lit.span(),
                    format!(
                        "relationship(foreign_key = ...) names the foreign-key column (e.g. \
                         \"user_id\"), not {:?}",
                        lit.value()
                    ),
                ));
            }
            set_once(&meta, &mut attrs.foreign_key, lit)
        } else if meta.path.is_ident("secondary") {
            let input = meta.value()?;
            if input.peek(LitStr) {
                let lit: LitStr = input.parse()?;
                return Err(syn::Error::new(
                    lit.span(),
                    "`secondary` takes the association model's type, not a string: \
                     secondary = PostTag",
                ));
            }
            let path: syn::Path = input.parse()?;
            set_once(&meta, &mut attrs.secondary, path)
        } else if meta.path.is_ident("passive_deletes") {
            let v = optional_bool(&meta)?;
            set_once(&meta, &mut attrs.passive_deletes, v)
        } else {
            let key = path_str(&meta.path);
            Err(meta.error(format!(
                "unknown relationship attribute `{key}`; expected one of: {}{}",
                RELATIONSHIP_KEYS.join(", "),
                if FIELD_KEYS.contains(&key.as_str()) {
                    " (column attributes do not apply to a relationship)"
                } else {
                    ""
                }
            )))
        }
    })?;
    Ok(attrs)
}

fn non_empty_str(meta: &ParseNestedMeta<'_>, what: &str) -> Result<LitStr> {
    let lit: LitStr = meta.value()?.parse()?;
    if lit.value().trim().is_empty() {
        return Err(syn::Error::new(lit.span(), format!("{what} is empty")));
    }
    Ok(lit)
}

/// `"column"`, `"column asc"` or `"column desc"`.
fn check_order_by(lit: &LitStr) -> Result<()> {
    let v = lit.value();
    let words: Vec<&str> = v.split_whitespace().collect();
    match words[..] {
        [_] => Ok(()),
        [_, dir] if dir.eq_ignore_ascii_case("asc") || dir.eq_ignore_ascii_case("desc") => Ok(()),
        _ => Err(syn::Error::new(
            lit.span(),
            format!(
                "`order_by` must be a column of the related model, optionally followed by \
                 `asc` or `desc` (e.g. \"id desc\"), not {v:?}"
            ),
        )),
    }
}

/// The `Lazy` variant named by a `lazy = "..."` string.
fn parse_lazy(lit: &LitStr) -> Result<Ident> {
    let v = lit.value();
    let variant = match v.as_str() {
        "select" => "Select",
        "selectin" => "Selectin",
        "joined" => "Joined",
        "raise" => "Raise",
        "noload" => "NoLoad",
        _ => {
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "unknown loader strategy lazy = {v:?}; expected \"select\" (the default), \
                     \"selectin\", \"joined\", \"raise\" or \"noload\""
                ),
            ));
        }
    };
    Ok(Ident::new(variant, lit.span()))
}

/// SQLAlchemy's cascade string, with the words (and meaning) of `Cascade::parse`.
fn parse_cascade(lit: &LitStr) -> Result<CascadeSpec> {
    let mut c = CascadeSpec {
        save_update: false,
        merge: false,
        delete: false,
        delete_orphan: false,
    };
    let v = lit.value();
    for word in v.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        match word {
            "all" => {
                c.save_update = true;
                c.merge = true;
                c.delete = true;
            }
            "save-update" => c.save_update = true,
            "merge" => c.merge = true,
            "delete" => c.delete = true,
            "delete-orphan" => c.delete_orphan = true,
            "refresh-expire" | "expunge" | "none" => {}
            other => {
                let hyphenated = other.trim().to_ascii_lowercase().replace(['_', ' '], "-");
                let hint = if hyphenated != other
                    && [
                        "all",
                        "save-update",
                        "merge",
                        "delete",
                        "delete-orphan",
                        "refresh-expire",
                        "expunge",
                        "none",
                    ]
                    .contains(&hyphenated.as_str())
                {
                    format!(" (did you mean {hyphenated:?}?)")
                } else {
                    String::new()
                };
                return Err(syn::Error::new(
                    lit.span(),
                    format!(
                        "unknown cascade {other:?}{hint}; expected a comma-separated list of \
                         save-update, merge, delete, delete-orphan, all, refresh-expire, \
                         expunge, none"
                    ),
                ));
            }
        }
    }
    Ok(c)
}

/// The `RelationshipDef` literal of one relationship field.
fn relationship_def(s: &FieldSpec, r: &RelSpec, krate: &TokenStream) -> TokenStream {
    let name = unraw(&s.ident);
    let target = &r.target;
    let collection = r.collection;
    let opt_str = |l: &Option<LitStr>| match l {
        Some(l) => quote!(::core::option::Option::Some(#l)),
        None => quote!(::core::option::Option::None),
    };
    let foreign_key = opt_str(&r.foreign_key);
    let back_populates = opt_str(&r.back_populates);
    let order_by = opt_str(&r.order_by);
    let secondary = match &r.secondary {
        Some(path) => {
            let kk = respan(krate, path.span());
            quote_spanned!(path.span()=> ::core::option::Option::Some(#kk::ModelRef::of::<#path>()))
        }
        None => quote!(::core::option::Option::None),
    };
    let lazy = r
        .lazy
        .clone()
        .unwrap_or_else(|| Ident::new("Select", Span::call_site()));
    let CascadeSpec {
        save_update,
        merge,
        delete,
        delete_orphan,
    } = r.cascade.unwrap_or(CascadeSpec::DEFAULT);
    let passive_deletes = r.passive_deletes.unwrap_or(false);
    let kk = respan(krate, s.ty_span);
    let target_ref = quote_spanned!(s.ty_span=> #kk::ModelRef::of::<#target>());
    quote! {
        #krate::RelationshipDef {
            name: #name,
            target: #target_ref,
            collection: #collection,
            foreign_key: #foreign_key,
            secondary: #secondary,
            back_populates: #back_populates,
            order_by: #order_by,
            lazy: #krate::Lazy::#lazy,
            cascade: #krate::Cascade {
                save_update: #save_update,
                merge: #merge,
                delete: #delete,
                delete_orphan: #delete_orphan,
            },
            passive_deletes: #passive_deletes,
        }
    }
}

fn column_def(c: &FieldSpec, p: &TokenStream) -> TokenStream {
    let name = &c.column;
    let ty = c.sql_type.clone().unwrap_or_else(|| quote!(Text));
    let mut def = quote!(#p::Column::new(#name, #p::SqlType::#ty));
    if c.primary_key {
        def.extend(quote!(.primary_key()));
    }
    match c.nullable {
        Some(b) => def.extend(quote!(.nullable(#b))),
        None if !c.primary_key && !c.optional => def.extend(quote!(.not_null())),
        None => {}
    }
    if let Some(b) = c.autoincrement {
        def.extend(quote!(.autoincrement(#b)));
    }
    if let Some(d) = &c.default {
        def.extend(quote!(.default(#d)));
    }
    if let Some(s) = &c.server_default {
        def.extend(quote!(.server_default(#s)));
    }
    if c.unique {
        def.extend(quote!(.unique()));
    }
    if c.index {
        def.extend(quote!(.index()));
    }
    if let Some((table, column)) = &c.foreign_key {
        let mut fk = quote!(#p::ForeignKey::new(#table, #column));
        if let Some((a, _)) = &c.on_delete {
            fk.extend(quote!(.on_delete(#p::ReferentialAction::#a)));
        }
        if let Some((a, _)) = &c.on_update {
            fk.extend(quote!(.on_update(#p::ReferentialAction::#a)));
        }
        def.extend(quote!(.foreign_key(#fk)));
    }
    def
}

/// `default = 0`, `default = -1.5`, `default = true`, `default = "draft"`.
fn parse_default(meta: &ParseNestedMeta<'_>) -> Result<TokenStream> {
    let input = meta.value()?;
    let neg: Option<syn::Token![-]> = input.parse()?;
    let lit: Lit = input.parse()?;
    let ok = match &lit {
        Lit::Int(_) | Lit::Float(_) => true,
        Lit::Bool(_) | Lit::Str(_) => neg.is_none(),
        _ => false,
    };
    if !ok {
        return Err(syn::Error::new(
            lit.span(),
            "`default` takes an integer, float, bool or string literal",
        ));
    }
    Ok(quote_spanned!(lit.span()=> #neg #lit))
}

fn parse_foreign_key(lit: &LitStr) -> Result<(String, String)> {
    let v = lit.value();
    let parts: Vec<&str> = v.split('.').collect();
    match parts[..] {
        [table, column] if !table.is_empty() && !column.is_empty() => {
            Ok((table.to_owned(), column.to_owned()))
        }
        _ => Err(syn::Error::new(
            lit.span(),
            format!("`foreign_key` must be \"table.column\" (e.g. \"users.id\"), not {v:?}"),
        )),
    }
}

fn parse_action(lit: &LitStr) -> Result<TokenStream> {
    let v = lit.value();
    let norm = v
        .trim()
        .to_ascii_lowercase()
        .replace(['_', '-'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let variant = match norm.as_str() {
        "cascade" => "Cascade",
        "set null" => "SetNull",
        "set default" => "SetDefault",
        "restrict" => "Restrict",
        "no action" => "NoAction",
        _ => {
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "unknown referential action {v:?}; expected \"cascade\", \"set null\", \
                     \"set default\", \"restrict\" or \"no action\""
                ),
            ));
        }
    };
    let ident = Ident::new(variant, lit.span());
    Ok(quote!(#ident))
}

/// The `SqlType` variant (with arguments) named by a `sql_type = "..."` string.
fn parse_sql_type(lit: &LitStr) -> Result<TokenStream> {
    let raw = lit.value();
    let v = raw.trim().to_ascii_lowercase().replace(' ', "");
    let simple = match v.as_str() {
        "smallint" | "int2" => Some("SmallInt"),
        "integer" | "int" | "int4" => Some("Integer"),
        "bigint" | "int8" => Some("BigInt"),
        "float" | "real" | "float4" => Some("Float"),
        "double" | "doubleprecision" | "float8" => Some("Double"),
        "text" => Some("Text"),
        "boolean" | "bool" => Some("Boolean"),
        "bytes" | "blob" | "bytea" => Some("Bytes"),
        "date" => Some("Date"),
        "time" => Some("Time"),
        "timestamp" => Some("Timestamp"),
        "timestamptz" => Some("TimestampTz"),
        "uuid" => Some("Uuid"),
        "json" | "jsonb" => Some("Json"),
        _ => None,
    };
    if let Some(s) = simple {
        let ident = Ident::new(s, lit.span());
        return Ok(quote!(#ident));
    }
    let bad = || {
        syn::Error::new(
            lit.span(),
            format!(
                "unknown sql_type {raw:?}; expected one of: integer, bigint, smallint, float, \
                 double, numeric(P, S), text, varchar(N), boolean, bytes (blob, bytea), date, \
                 time, timestamp, timestamptz, uuid, json"
            ),
        )
    };
    let args = |prefix: &str| -> Option<Vec<u32>> {
        let rest = v
            .strip_prefix(prefix)?
            .strip_prefix('(')?
            .strip_suffix(')')?;
        rest.split(',').map(|n| n.parse::<u32>().ok()).collect()
    };
    if let Some(a) = args("varchar") {
        if let [n] = a[..] {
            return Ok(quote!(Varchar(#n)));
        }
        return Err(bad());
    }
    if let Some(a) = args("numeric").or_else(|| args("decimal")) {
        return match a[..] {
            [p, s] if s <= p => Ok(quote!(Numeric(#p, #s))),
            [p] => Ok(quote!(Numeric(#p, 0u32))),
            _ => Err(bad()),
        };
    }
    Err(bad())
}

fn strip_group(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => strip_group(&g.elem),
        Type::Paren(p) => strip_group(&p.elem),
        t => t,
    }
}

/// `T` when `ty` is `Option<T>` (by its last path segment).
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(tp) = strip_group(ty) else {
        return None;
    };
    if tp.qself.is_some() {
        return None;
    }
    let last = tp.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    single_type_arg(&last.arguments)
}

/// `(true, T)` for `Many<T>`, `(false, T)` for `One<T>` (by the last path segment).
fn relationship_type(ty: &Type) -> Option<(bool, &Type)> {
    let Type::Path(tp) = strip_group(ty) else {
        return None;
    };
    if tp.qself.is_some() {
        return None;
    }
    let last = tp.path.segments.last()?;
    let collection = if last.ident == "Many" {
        true
    } else if last.ident == "One" {
        false
    } else {
        return None;
    };
    Some((collection, single_type_arg(&last.arguments)?))
}

/// A type as written, without the token spacing (`crate :: Post` → `crate::Post`).
fn type_str(ty: &Type) -> String {
    let mut s = quote!(#ty).to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" < ", "<"),
        (" <", "<"),
        (" >", ">"),
        (" ,", ","),
    ] {
        s = s.replace(from, to);
    }
    s
}

fn single_type_arg(args: &PathArguments) -> Option<&Type> {
    let PathArguments::AngleBracketed(ab) = args else {
        return None;
    };
    match ab.args.iter().collect::<Vec<_>>()[..] {
        [GenericArgument::Type(t)] => Some(t),
        _ => None,
    }
}

/// The `SqlType` variant for a Rust type, by its last path segment.
fn infer_sql_type(ty: &Type) -> Option<TokenStream> {
    let Type::Path(tp) = strip_group(ty) else {
        return None;
    };
    if tp.qself.is_some() {
        return None;
    }
    let segments: Vec<_> = tp.path.segments.iter().collect();
    let last = segments.last()?;
    let name = last.ident.to_string();
    let variant = match name.as_str() {
        "i64" | "u32" => "BigInt",
        "i32" | "u16" => "Integer",
        "i16" | "i8" | "u8" => "SmallInt",
        "f64" => "Double",
        "f32" => "Float",
        "bool" => "Boolean",
        "String" => "Text",
        "Vec" => {
            let arg = single_type_arg(&last.arguments)?;
            let Type::Path(a) = strip_group(arg) else {
                return None;
            };
            if !a.path.is_ident("u8") {
                return None;
            }
            "Bytes"
        }
        "NaiveDate" => "Date",
        "NaiveTime" => "Time",
        "NaiveDateTime" => "Timestamp",
        "DateTime" => "TimestampTz",
        "Uuid" => "Uuid",
        "Json" => "Json",
        // `serde_json::Value` (or a bare `Value` imported from it), not `calcine_sql::Value`.
        "Value" => match &segments[..] {
            [_] => "Json",
            [.., prev, _] if prev.ident == "serde_json" => "Json",
            _ => return None,
        },
        _ => return None,
    };
    let ident = Ident::new(variant, Span::call_site());
    Some(quote!(#ident))
}

fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    match s.strip_prefix("r#") {
        Some(rest) => rest.to_owned(),
        None => s,
    }
}

/// `BlogPost` → `blog_post`, `HTTPRequest` → `http_request`, `snake_case` unchanged.
fn snake_case(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                None | Some('_') => false,
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_uppercase() => next.is_some_and(char::is_lowercase),
                Some(_) => false,
            };
            if boundary {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{expand, snake_case};

    /// The error message `#[derive(Model)]` gives for `src`.
    fn error(src: &str) -> String {
        let input: syn::DeriveInput = match syn::parse_str(src) {
            Ok(i) => i,
            Err(e) => panic!("test input does not parse: {e}"),
        };
        match expand(&input) {
            Ok(_) => panic!("expected an error for {src}"),
            Err(e) => e.to_string(),
        }
    }

    fn assert_error(src: &str, expected: &str) {
        let msg = error(src);
        assert!(
            msg.contains(expected),
            "{msg:?} does not contain {expected:?}"
        );
    }

    #[test]
    fn expands() {
        let input: syn::DeriveInput = match syn::parse_str(
            "#[calcine(table = \"t\", crate = \"calcine_orm\")] struct T { \
             #[calcine(primary_key)] id: i64, #[calcine(skip)] s: Vec<String> }",
        ) {
            Ok(i) => i,
            Err(e) => panic!("{e}"),
        };
        let out = match expand(&input) {
            Ok(out) => out.to_string(),
            Err(e) => panic!("{e}"),
        };
        assert!(out.contains("impl calcine_orm :: Model for T"), "{out}");
        assert!(
            out.contains("const ID : calcine_orm :: Col < T , i64 >"),
            "{out}"
        );
        assert!(!out.contains("const S"), "{out}");
    }

    fn expansion(src: &str) -> String {
        let input: syn::DeriveInput = match syn::parse_str(src) {
            Ok(i) => i,
            Err(e) => panic!("test input does not parse: {e}"),
        };
        match expand(&input) {
            Ok(out) => out.to_string(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn expands_relationships() {
        let out = expansion(
            "#[calcine(crate = \"o\")] pub struct User { #[calcine(primary_key)] id: i64, \
             #[calcine(relationship(back_populates = \"author\", order_by = \"id desc\", \
             lazy = \"selectin\", cascade = \"all, delete-orphan\", foreign_key = \"user_id\", \
             passive_deletes))] posts: Many<Post>, \
             name: String, \
             manager: o::One<User>, \
             #[calcine(relationship(secondary = m::PostTag, lazy = \"noload\", cascade = \"none\"))] \
             tags: Many<Tag> }",
        );
        let has = |needle: &str| assert!(out.contains(needle), "{needle:?} not in {out}");
        has(
            "static RELS : [o :: RelationshipDef ; 3usize] = [o :: RelationshipDef { name : \"posts\" , \
             target : o :: ModelRef :: of :: < Post > () , collection : true , \
             foreign_key : :: core :: option :: Option :: Some (\"user_id\") , \
             secondary : :: core :: option :: Option :: None , \
             back_populates : :: core :: option :: Option :: Some (\"author\") , \
             order_by : :: core :: option :: Option :: Some (\"id desc\") , \
             lazy : o :: Lazy :: Selectin , \
             cascade : o :: Cascade { save_update : true , merge : true , delete : true , \
             delete_orphan : true , } , passive_deletes : true , }",
        );
        has(
            "name : \"manager\" , target : o :: ModelRef :: of :: < User > () , \
             collection : false , foreign_key : :: core :: option :: Option :: None",
        );
        has(
            "lazy : o :: Lazy :: Select , cascade : o :: Cascade { save_update : true , \
             merge : true , delete : false , delete_orphan : false , } , passive_deletes : false",
        );
        has(
            "secondary : :: core :: option :: Option :: Some (o :: ModelRef :: of :: < m :: PostTag > ())",
        );
        has(
            "lazy : o :: Lazy :: NoLoad , cascade : o :: Cascade { save_update : false , \
             merge : false , delete : false , delete_orphan : false , }",
        );
        has(
            "0usize => :: core :: option :: Option :: Some (o :: RelationRef :: from (& self . posts))",
        );
        has(
            "2usize => :: core :: option :: Option :: Some (o :: RelationRef :: from (& self . tags))",
        );
        has(
            "2usize => :: core :: option :: Option :: Some (o :: RelationMut :: from (& mut self . tags))",
        );
        has("mapper . with_relationships (< User as o :: Model > :: relationships ())");
        has("pub const POSTS : o :: Rel < User , Post > = o :: Rel :: new (0usize , \"posts\")");
        has(
            "pub const MANAGER : o :: Rel < User , User > = o :: Rel :: new (1usize , \"manager\")",
        );
        has("pub const TAGS : o :: Rel < User , Tag > = o :: Rel :: new (2usize , \"tags\")");
        has("Relationship `posts` of `User`: a collection of `Post`.");
        has("Relationship `manager` of `User`: a reference to `User`.");
        // Relationship fields are defaulted, not read from the row; columns keep their indexes.
        has("posts : :: core :: default :: Default :: default ()");
        has("manager : :: core :: default :: Default :: default ()");
        has("const NAME : o :: Col < User , String > = o :: Col :: new (1usize , \"name\")");
        has(":: std :: format ! (\"{} has {} columns, not {}\" , \"User\" , 2usize");
        assert!(!out.contains("clone (& self . posts)"), "{out}");
        assert!(!out.contains("Column :: new (\"posts\""), "{out}");
        assert!(!out.contains("const POSTS : o :: Col"), "{out}");

        // No relationships: the trait's defaults, and no RELS.
        let out =
            expansion("#[calcine(crate = \"o\")] struct T { #[calcine(primary_key)] id: i64 }");
        assert!(!out.contains("fn relationships"), "{out}");
        assert!(!out.contains("fn relation"), "{out}");
        assert!(out.contains("with_relationships"), "{out}");

        // `skip` opts a `Many`/`One`-named type out of being a relationship.
        let out = expansion(
            "#[calcine(crate = \"o\")] struct T { #[calcine(primary_key)] id: i64, \
             #[calcine(skip)] x: One<u8> }",
        );
        assert!(!out.contains("fn relationships"), "{out}");
    }

    #[test]
    fn relationship_errors() {
        let t = |field: &str| format!("struct T {{ #[calcine(primary_key)] id: i64, {field} }}");
        assert_error(
            &t("#[calcine(relationship)] u: Vec<Post>"),
            "`relationship` needs a field of type `Many<T>` (a collection) or `One<T>`",
        );
        assert_error(
            &t("#[calcine(relationship(lazy = \"joined\"))] u: Option<One<User>>"),
            "drop the `Option`",
        );
        assert_error(
            &t("#[calcine(primary_key)] posts: Many<Post>"),
            "`primary_key` does not apply to relationship field `posts`: a `Many<_>` field is \
             a relationship, not a column",
        );
        assert_error(
            &t("#[calcine(sql_type = \"integer\", relationship)] user: One<User>"),
            "`sql_type` does not apply to relationship field `user`: a `One<_>`",
        );
        assert_error(
            &t("#[calcine(foreign_key = \"users.id\")] user: One<User>"),
            "use #[calcine(relationship(foreign_key = \"column\"))]",
        );
        assert_error(
            &t("#[calcine(relationship(lazzy = \"select\"))] posts: Many<Post>"),
            "unknown relationship attribute `lazzy`; expected one of: back_populates, order_by",
        );
        assert_error(
            &t("#[calcine(relationship(unique))] posts: Many<Post>"),
            "(column attributes do not apply to a relationship)",
        );
        assert_error(
            &t("#[calcine(relationship(lazy = \"dynamic\"))] posts: Many<Post>"),
            "unknown loader strategy lazy = \"dynamic\"",
        );
        assert_error(
            &t("#[calcine(relationship(cascade = \"all, delete-orphans\"))] posts: Many<Post>"),
            "unknown cascade \"delete-orphans\"; expected a comma-separated list",
        );
        assert_error(
            &t("#[calcine(relationship(cascade = \"save_update\"))] posts: Many<Post>"),
            "(did you mean \"save-update\"?)",
        );
        assert_error(
            &t("#[calcine(relationship(secondary = PostTag))] post: One<Post>"),
            "`secondary` needs a `Many<T>` field",
        );
        assert_error(
            &t("#[calcine(relationship(secondary = \"post_tags\"))] tags: Many<Tag>"),
            "`secondary` takes the association model's type, not a string",
        );
        assert_error(
            &t("#[calcine(relationship(order_by = \"id descending\"))] posts: Many<Post>"),
            "`order_by` must be a column of the related model",
        );
        assert_error(
            &t("#[calcine(relationship(foreign_key = \"posts.user_id\"))] posts: Many<Post>"),
            "names the foreign-key column (e.g. \"user_id\"), not \"posts.user_id\"",
        );
        assert_error(
            &t("#[calcine(relationship(back_populates = \"\"))] posts: Many<Post>"),
            "the back_populates attribute name is empty",
        );
        assert_error(
            &t("#[calcine(relationship(lazy = \"select\", lazy = \"raise\"))] posts: Many<Post>"),
            "`lazy` is given more than once",
        );
        assert_error(
            &t("#[calcine(relationship, relationship)] posts: Many<Post>"),
            "`relationship` is given more than once",
        );
        assert_error(
            &t("#[calcine(relationship = \"x\")] posts: Many<Post>"),
            "`relationship` takes a list",
        );
        assert_error(
            &t("#[calcine(skip, relationship)] posts: Many<Post>"),
            "`relationship` has no effect on a `skip` field",
        );
        assert_error(
            "#[calcine(relationship)] struct T { #[calcine(primary_key)] id: i64 }",
            "(it is a field attribute)",
        );
    }

    #[test]
    fn cascades() {
        let parse = |s: &str| {
            let lit = syn::LitStr::new(s, proc_macro2::Span::call_site());
            super::parse_cascade(&lit)
                .ok()
                .map(|c| [c.save_update, c.merge, c.delete, c.delete_orphan])
        };
        assert_eq!(parse("all"), Some([true, true, true, false]));
        assert_eq!(parse("all, delete-orphan"), Some([true, true, true, true]));
        assert_eq!(parse("save-update,merge"), Some([true, true, false, false]));
        assert_eq!(
            parse(" delete , refresh-expire, expunge"),
            Some([false, false, true, false])
        );
        assert_eq!(parse("none"), Some([false; 4]));
        assert_eq!(parse(""), Some([false; 4]));
        assert_eq!(parse("ALL"), None);
        assert_eq!(parse("all delete"), None);
    }

    #[test]
    fn errors() {
        assert_error("struct T(i64);", "needs a struct with named fields");
        assert_error("enum T { A }", "not an enum");
        assert_error(
            "struct T<X> { #[calcine(primary_key)] id: X }",
            "does not support generic structs",
        );
        assert_error("struct T { id: i64 }", "needs a primary key");
        assert_error(
            "struct T { #[calcine(skip, primary_key)] id: i64 }",
            "has no effect on a `skip` field",
        );
        assert_error(
            "#[calcine(tabel = \"t\")] struct T { #[calcine(primary_key)] id: i64 }",
            "unknown #[calcine] struct attribute `tabel`",
        );
        assert_error(
            "#[calcine(unique)] struct T { #[calcine(primary_key)] id: i64 }",
            "(it is a field attribute)",
        );
        assert_error(
            "struct T { #[calcine(primary_key, uniq)] id: i64 }",
            "unknown #[calcine] field attribute `uniq`",
        );
        assert_error(
            "struct T { #[calcine(primary_key)] id: i64, #[calcine(foreign_key = \"users\")] u: i64 }",
            "`foreign_key` must be \"table.column\"",
        );
        assert_error(
            "struct T { #[calcine(primary_key)] id: i64, #[calcine(foreign_key = \"a.b.c\")] u: i64 }",
            "`foreign_key` must be \"table.column\"",
        );
        assert_error(
            "struct T { #[calcine(primary_key)] id: i64, \
             #[calcine(foreign_key = \"users.id\", on_delete = \"explode\")] u: i64 }",
            "unknown referential action \"explode\"",
        );
        assert_error(
            "struct T { #[calcine(primary_key)] id: i64, #[calcine(on_delete = \"cascade\")] u: i64 }",
            "`on_delete` needs a `foreign_key",
        );
        assert_error(
            "struct T { #[calcine(primary_key)] id: i64, #[calcine(sql_type = \"varchar\")] u: String }",
            "unknown sql_type \"varchar\"",
        );
        assert_error(
            "struct T { #[calcine(primary_key)] id: i64, #[calcine(sql_type = \"money\")] u: String }",
            "unknown sql_type \"money\"",
        );
        assert_error(
            "struct T { #[calcine(primary_key)] id: i64, u: std::collections::HashMap<u8, u8> }",
            "cannot infer the SQL type of this field",
        );
        assert_error(
            "struct T { #[calcine(primary_key)] id: i64, #[calcine(default = b'x')] u: u8 }",
            "`default` takes an integer, float, bool or string literal",
        );
        assert_error(
            "struct T { #[calcine(primary_key, unique, unique)] id: i64 }",
            "`unique` is given more than once",
        );
        assert_error(
            "struct T { #[calcine(primary_key)] id: i64, #[calcine(column = \"id\")] other: i64 }",
            "column \"id\" is mapped twice",
        );
    }

    #[test]
    fn sql_types() {
        let parse = |s: &str| {
            let lit = syn::LitStr::new(s, proc_macro2::Span::call_site());
            super::parse_sql_type(&lit).map(|t| t.to_string()).ok()
        };
        assert_eq!(parse("VARCHAR(50)").as_deref(), Some("Varchar (50u32)"));
        assert_eq!(
            parse("numeric(10, 2)").as_deref(),
            Some("Numeric (10u32 , 2u32)")
        );
        assert_eq!(parse("Double Precision").as_deref(), Some("Double"));
        assert_eq!(parse("blob").as_deref(), Some("Bytes"));
        assert_eq!(parse("numeric(2, 10)"), None);
        assert_eq!(parse("varchar(x)"), None);
    }

    #[test]
    fn snake() {
        assert_eq!(snake_case("User"), "user");
        assert_eq!(snake_case("BlogPost"), "blog_post");
        assert_eq!(snake_case("HTTPRequest"), "http_request");
        assert_eq!(snake_case("Order2Item"), "order2_item");
        assert_eq!(snake_case("manager_id"), "manager_id");
        assert_eq!(snake_case("createdAt"), "created_at");
    }
}
