//! The deploy manifest (`--write-manifest`, `--previous`): fingerprints that ship with the site.
