//! Registered functions as the engine sees them: which live nodes have each, the params a call gets, and the task
//! that runs a function by name.
use super::{Engine, EngineError};
use crate::domain::{NodeStatus, Params, Task, TaskName, TaskSpec};
use crate::store::{Keyset, StoreError};

impl Engine {
    /// For each function that a live node (heart-beating) registers, the ids of those nodes (the newest 1,000
    /// nodes are read).
    pub async fn function_nodes(&self) -> Result<std::collections::HashMap<String, Vec<String>>, EngineError> {
        let nodes = self.nodes(Keyset { after: None, limit: 1000 }).await?;
        let mut by_function: std::collections::HashMap<String, Vec<String>> = Default::default();
        for (node, _) in nodes.items.into_iter().filter(|(_, status)| *status == NodeStatus::Up) {
            for function in node.functions {
                by_function.entry(function).or_default().push(node.id.clone());
            }
        }
        Ok(by_function)
    }

    /// The params a call of function `name` for `task` gets: the schema's defaults, then the task's, then the
    /// request's, checked against the function's schema (each problem named). A function this node does not
    /// register is checked by the node that runs it; when no live node registers it, the job waits and the second
    /// value says why.
    pub(super) async fn function_params(
        &self,
        name: &str,
        task: &Task,
        request: &Params,
    ) -> Result<(Params, Option<String>), EngineError> {
        let Some(function) = self.inner.functions.get(name) else {
            let params = task.spec.params.merged_with(request);
            let why = (!self.live_functions().await?.contains(name))
                .then(|| format!("waiting: no live node registers function '{name}'"));
            return Ok((params, why));
        };
        let params = function.schema.defaults().merged_with(&task.spec.params).merged_with(request);
        function.schema.check(&params, false).map_err(EngineError::Params)?;
        Ok((params, None))
    }

    /// The functions that live nodes (heart-beating) register (the newest 1,000 nodes are read).
    pub async fn live_functions(&self) -> Result<std::collections::HashSet<String>, EngineError> {
        Ok(self.function_nodes().await?.into_keys().collect())
    }

    /// The task that runs function `name` by name: the task of that name, created the first time. A task of that
    /// name that runs something else is a conflict.
    pub async fn function_task(&self, name: &str) -> Result<Task, EngineError> {
        if self.inner.functions.get(name).is_none() {
            return Err(EngineError::FunctionNotFound(name.into()));
        }
        let task_name = TaskName::parse(name).map_err(|_| EngineError::FunctionNotFound(name.into()))?;
        for _ in 0..2 {
            match self.inner.store.tasks().by_name(name).await? {
                Some(task) if task.spec.function.as_deref() == Some(name) => return Ok(task),
                Some(_) => return Err(EngineError::FunctionNameTaken(name.into())),
                None => {
                    let spec = TaskSpec {
                        name: Some(task_name.clone()),
                        function: Some(name.into()),
                        ..TaskSpec::new(String::new())
                    };
                    let task = Task::create(spec, self.inner.now());
                    match self.inner.store.tasks().insert(&task).await {
                        Ok(()) => return Ok(task),
                        // Created at the same moment by another request: read it.
                        Err(StoreError::NameTaken) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Err(EngineError::FunctionNameTaken(name.into()))
    }
}
