"""Offline checks of Hugging Face downloads against the content addresses already on disk.

A cache snapshot's links name their blobs' hashes, a ``--local-dir`` download keeps them in
``.cache/huggingface/download``, a git clone's index holds LFS pointers and blob ids. This
package reads them (never the network) and says, per file, what to compare with what.
"""
