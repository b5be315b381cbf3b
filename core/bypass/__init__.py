"""Emergency bypasses: narrowly scoped, approved by someone else, expiring by themselves."""
