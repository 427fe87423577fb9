//! `#[cached]` on methods of trait impls (no companions there) and on a block-local function
//! (companions as `square::key(..)`); `pub(self)` asks for a private method's companions.
use cache_runtime::cached;

trait Repo {
    async fn user(&self, id: u64) -> String;
    fn count(&self) -> u64;
}

struct Pg;

impl Repo for Pg {
    #[cached(ttl = 60, skip(self))]
    async fn user(&self, id: u64) -> String {
        id.to_string()
    }

    #[cached(ttl = 60, skip(self))]
    fn count(&self) -> u64 {
        1
    }
}

impl Pg {
    #[cached(ttl = 60, skip(self))]
    pub(self) fn private_with_companions(&self, id: u64) -> u64 {
        id
    }
}

fn main() {
    #[cached(ttl = 60)]
    fn square(n: u64) -> u64 {
        n * n
    }
    let _ = (square(2), square::key(&2), Pg.count(), Pg.user(1));
    let _ = Pg.private_with_companions_key(&1);
}
