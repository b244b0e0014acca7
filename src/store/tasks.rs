//! The `tasks` table.
use entity::task;
use sea_orm::{EntityTrait, Order, QueryOrder, SqlErr};

use super::convert::{task_from_row, task_to_row};
use super::page::{self, Keyset, Page, PageRequest, Slice};
use super::{Conns, StoreError, StoreResult};
use crate::domain::{Task, TaskId, TaskRef};

pub struct TasksStore<'a> {
    db: Conns<'a>,
}

fn name_conflict(err: sea_orm::DbErr) -> StoreError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::NameTaken,
        _ => err.into(),
    }
}

impl<'a> TasksStore<'a> {
    pub(super) fn new(db: Conns<'a>) -> Self {
        Self { db }
    }

    pub async fn insert(&self, task: &Task) -> StoreResult<()> {
        self.db.room_for_new_work()?;
        let res = task::Entity::insert(task_to_row(task)?).exec_without_returning(self.db.write).await;
        self.db.wrote(res.map_err(name_conflict))?;
        Ok(())
    }

    pub async fn get(&self, id: TaskId) -> StoreResult<Task> {
        let row = task::Entity::find_by_id(id).one(self.db.read).await?.ok_or(StoreError::NotFound)?;
        task_from_row(row)
    }

    /// The task a route names, by id or by name.
    pub async fn find(&self, at: &TaskRef) -> StoreResult<Task> {
        match at {
            TaskRef::Id(id) => self.get(*id).await,
            TaskRef::Name(name) => {
                let row = task::Entity::find()
                    .filter(task::Column::Name.eq(name.as_str()))
                    .one(self.db.read)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                task_from_row(row)
            }
        }
    }

    /// The task named `name`, if any.
    pub async fn by_name(&self, name: &str) -> StoreResult<Option<Task>> {
        let row = task::Entity::find().filter(task::Column::Name.eq(name)).one(self.db.read).await?;
        row.map(task_from_row).transpose()
    }

    /// Writes every field of `task` over the stored row.
    pub async fn update(&self, task: &Task) -> StoreResult<()> {
        self.db.room_for_new_work()?;
        let res = task::Entity::update_many()
            .set(task_to_row(task)?)
            .filter(task::Column::Id.eq(task.id))
            .exec(self.db.write)
            .await;
        let res = self.db.wrote(res.map_err(name_conflict))?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn delete(&self, id: TaskId) -> StoreResult<()> {
        let res = self.db.wrote(task::Entity::delete_by_id(id).exec(self.db.write).await)?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Tasks oldest first, after the task `req.after`.
    pub async fn after(&self, req: Keyset<TaskId>) -> StoreResult<Slice<Task>> {
        self.after_where(&TaskFilter::default(), req).await
    }

    /// Page `req.page`, oldest first.
    pub async fn page(&self, req: PageRequest) -> StoreResult<Page<Task>> {
        self.page_where(&TaskFilter::default(), req).await
    }

    /// The tasks `filter` lets through, oldest first, after the task `req.after`.
    pub async fn after_where(&self, filter: &TaskFilter, req: Keyset<TaskId>) -> StoreResult<Slice<Task>> {
        let req = Keyset { after: req.after.map(|id| id.to_string()), limit: req.limit };
        let rows = page::keyset(filter.select(), task::Column::Id, Order::Asc, req, self.db.read).await?;
        rows.try_map(task_from_row)
    }

    /// Page `req.page` of the tasks `filter` lets through, oldest first.
    pub async fn page_where(&self, filter: &TaskFilter, req: PageRequest) -> StoreResult<Page<Task>> {
        let page = page::numbered(filter.select().order_by_asc(task::Column::Id), req, self.db.read).await?;
        Ok(Page { items: page.items.into_iter().map(task_from_row).collect::<Result<_, _>>()?, total: page.total })
    }
}

/// Which tasks a list shows.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only enabled (or only disabled) tasks.
    pub enabled: Option<bool>,
    /// Only tasks that have every one of these tags.
    pub tags: Vec<String>,
}

impl TaskFilter {
    pub(super) fn select(&self) -> sea_orm::Select<task::Entity> {
        let mut q = task::Entity::find();
        if let Some(enabled) = self.enabled {
            q = q.filter(task::Column::Enabled.eq(enabled));
        }
        for tag in &self.tags {
            // Tags are stored as a compact JSON array of strings: a tag is one of them exactly when its JSON
            // form follows the `[` or a `,` of the array (inside a string a quote is escaped, so `,"` cannot
            // occur there) and is followed by the `,` or `]` that ends the element.
            let json = like_escape(&serde_json::to_string(tag).unwrap_or_default());
            let mut any = sea_orm::Condition::any();
            for (before, after) in [("[", ","), ("[", "]"), ("%,", ","), ("%,", "]")] {
                let pattern = sea_orm::sea_query::LikeExpr::new(format!("{before}{json}{after}%")).escape('!');
                any = any.add(task::Column::Tags.like(pattern));
            }
            q = q.filter(any);
        }
        q
    }
}

/// `text` as a literal in a LIKE pattern whose escape character is `!`.
fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '!' | '%' | '_') {
            out.push('!');
        }
        out.push(c);
    }
    out
}

use sea_orm::{ColumnTrait, QueryFilter};
