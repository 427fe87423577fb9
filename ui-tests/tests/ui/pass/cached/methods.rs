use cache_runtime::cached;

pub struct Service {
    tenant: String,
}

impl Service {
    #[cached(ttl = 60, skip(self))]
    pub async fn count(&self, id: u64) -> u64 {
        id
    }

    #[cached(ttl = 60, key = "{self.tenant}:name:{id}")]
    pub fn name(&self, id: u64) -> String {
        format!("{}{id}", self.tenant)
    }
}

fn main() {
    let service = Service { tenant: "t".into() };
    let _ = service.count(1);
    assert_eq!(service.name(1), "t1");
    assert_eq!(service.name_key(&1).unwrap(), "cache:t:name:1");
    let _ = Service::count_stats();
}
