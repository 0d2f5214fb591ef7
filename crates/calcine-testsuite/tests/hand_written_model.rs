//! A `Model` written by hand, with a relationship field and only `relation` (no
//! `relation_mut`, which the derive generates): its instances still point their fields at
//! themselves when loaded or added (through the fields' locks), so lazy loading and the flush's
//! cascade work. On every backend.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::OnceLock;

use calcine_orm::{Many, Mapper, Model, ModelRef, RelationRef, RelationshipDef, Session};
use calcine_sql::{Column, FromValue, SqlType, Table, Value, ValueError};
use calcine_testsuite::each_backend;

#[derive(Model, Debug)]
#[calcine(table = "hw_children", crate = "calcine_orm")]
struct Child {
    #[calcine(primary_key)]
    id: Option<i64>,
    #[calcine(foreign_key = "hw_parents.id")]
    parent_id: Option<i64>,
    name: String,
}

#[derive(Debug)]
struct Parent {
    id: Option<i64>,
    name: String,
    children: Many<Child>,
}

impl Model for Parent {
    fn mapper() -> &'static Mapper {
        static M: OnceLock<Mapper> = OnceLock::new();
        M.get_or_init(|| {
            Mapper::new(
                "Parent",
                Table::new("hw_parents")
                    .column(Column::new("id", SqlType::Integer).primary_key())
                    .column(Column::new("name", SqlType::Text).not_null()),
            )
            .unwrap()
            .with_relationships(Self::relationships())
        })
    }

    fn relationships() -> &'static [RelationshipDef] {
        static RELS: [RelationshipDef; 1] = [RelationshipDef::new(
            "children",
            ModelRef::of::<Child>(),
            true,
        )];
        &RELS
    }

    fn relation(&self, index: usize) -> Option<RelationRef<'_>> {
        (index == 0).then(|| RelationRef::from(&self.children))
    }

    fn column_value(&self, i: usize) -> Value {
        match i {
            0 => self.id.into(),
            _ => self.name.clone().into(),
        }
    }

    fn set_column_value(&mut self, i: usize, v: Value) -> Result<(), ValueError> {
        match i {
            0 => self.id = FromValue::from_value(v)?,
            _ => self.name = FromValue::from_value(v)?,
        }
        Ok(())
    }

    fn from_values(v: &mut [Value]) -> Result<Self, (usize, ValueError)> {
        Ok(Parent {
            id: FromValue::from_value(std::mem::take(&mut v[0])).map_err(|e| (0, e))?,
            name: FromValue::from_value(std::mem::take(&mut v[1])).map_err(|e| (1, e))?,
            children: Many::default(),
        })
    }
}

fn child(name: &str) -> Child {
    Child {
        id: None,
        parent_id: None,
        name: name.into(),
    }
}

#[test]
fn a_hand_written_model_without_relation_mut_still_links_its_fields() {
    each_backend(|db| {
        let engine = db.engine();
        calcine_orm::create_all(&engine, &[Parent::mapper(), Child::mapper()]).unwrap();
        // Added with its children: the save-update cascade finds them through the field.
        let mut s = Session::new(&engine);
        let p = s.add(Parent {
            id: None,
            name: "p".into(),
            children: Many::from_vec(vec![
                calcine_orm::Obj::new(child("a")),
                calcine_orm::Obj::new(child("b")),
            ]),
        });
        s.commit().unwrap();
        let id = p.read().unwrap().id.unwrap();
        drop(s);

        // Loaded in a fresh session: the field lazy-loads through its parent's session.
        let mut s = Session::new(&engine);
        let p = s.get::<Parent>(id).unwrap().unwrap();
        let kids = p.read().unwrap().children.load().unwrap();
        let mut names: Vec<String> = kids
            .iter()
            .map(|c| c.read().unwrap().name.clone())
            .collect();
        names.sort();
        assert_eq!(names, ["a", "b"], "{}", db.name);
        assert!(
            kids.iter().all(|c| c.read().unwrap().parent_id == Some(id)),
            "{}",
            db.name
        );
    });
}
