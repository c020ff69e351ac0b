"""Offline checks of Hugging Face downloads against the content addresses already on disk.

A cache snapshot's links name their blobs' hashes, a ``--local-dir`` download keeps them in
``.cache/huggingface/download``, a git clone's index holds LFS pointers and blob ids. This
package reads them (never the network) and says, per file, what to compare with what.
"""

from .address import (
    EOL_CONVERSION,
    GIT_BLOB,
    OTHER_CONVERSION,
    AddressCheck,
    ContentAddress,
    GitBlobHasher,
    address_from_hex,
    algorithms_for,
    check_file_against,
    content_digests,
    git_blob_id,
    new_digest_hasher,
    parse_lfs_pointer,
)
from .book import (
    CACHE_SNAPSHOT,
    GIT_CLONE,
    LOCAL_DIR,
    AddressBook,
    EntryFailure,
    PlannedFile,
    files_under,
    not_downloaded,
    plan_checks,
)
from .cache import (
    cache_repo_book,
    cache_root,
    is_hub_spec,
    resolve_hub_spec,
    snapshot_book,
)
from .checks import check_planned
from .detect import address_for_file, detect_layout
from .gitindex import git_clone_book
from .listing import ListedFile, Listing
from .localdir import local_dir_book

__all__ = [
    "CACHE_SNAPSHOT",
    "EOL_CONVERSION",
    "GIT_BLOB",
    "GIT_CLONE",
    "LOCAL_DIR",
    "OTHER_CONVERSION",
    "AddressBook",
    "AddressCheck",
    "ContentAddress",
    "EntryFailure",
    "GitBlobHasher",
    "ListedFile",
    "Listing",
    "PlannedFile",
    "address_for_file",
    "address_from_hex",
    "algorithms_for",
    "cache_repo_book",
    "cache_root",
    "check_file_against",
    "check_planned",
    "content_digests",
    "detect_layout",
    "files_under",
    "git_blob_id",
    "git_clone_book",
    "is_hub_spec",
    "local_dir_book",
    "new_digest_hasher",
    "not_downloaded",
    "parse_lfs_pointer",
    "plan_checks",
    "resolve_hub_spec",
    "snapshot_book",
]
