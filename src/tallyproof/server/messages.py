"""Messages as a browser sees them: no path of the server's own.

The library's errors name files by their full path (``InputError: file
/srv/state/uploads/county-01/.extract-x1/dominion/CvrExport_1.json``, ``StoreError:
/srv/state/counties/county-01/store/log: ...``, a missing key file), which is what a person at
the command line needs and what a county or the public must not see from the server: where
the state folder, the keys, the temporary files or a home folder are. :func:`public_message`
is the one function every message goes through before it is stored for display or sent (job
results, upload refusals, error pages and the API's ``detail``). It keeps what makes a
message useful — the file's name as the county knows it, the path inside the state (``counties
/county-01/store/log/checkpoints``), the record and field — and drops the rest:

1. an upload's own file (or the folder its archive was extracted to) becomes the name the
   county gave it, and the county's upload folder ``upload``;
2. the county's signing key becomes "the county's signing key";
3. a path inside the state folder becomes relative to it (the state folder itself: "the
   state folder");
4. any other absolute path (a temporary folder, a home folder, the installation) becomes its
   last component: the file's name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings

if TYPE_CHECKING:
    from .db import Upload

#: the folder an ingest job extracts a zip into, beside it (removed when the job ends)
EXTRACT_PREFIX = ".extract-"
#: an absolute path: "/" then one or more components, not inside a word or a relative path
ABSOLUTE = re.compile(r"(?<![\w.~/-])/(?:[^\s/'\"`,;:()<>\[\]{}]+/)*[^\s/'\"`,;:()<>\[\]{}]*")


def _upload_paths(settings: Settings, up: Upload, text: str) -> str:
    from .uploads import county_folder, data_path

    folder = str(county_folder(settings, up.county))
    text = re.sub(re.escape(folder) + "/" + re.escape(EXTRACT_PREFIX) + r"[^/\s]+",
                  lambda _: up.filename, text)
    return text.replace(str(data_path(settings, up)), up.filename).replace(folder, "upload")


def _last_component(m: re.Match[str]) -> str:
    name = m.group(0).rstrip("/").rsplit("/", 1)[-1]
    return name or "/"


def public_message(settings: Settings, text: str, county: str | None = None,
                   upload: Upload | None = None) -> str:
    """``text`` without any absolute server path (module docstring); ``upload`` is the upload
    the message is about (a job's, or one being verified), ``county`` the job's county."""
    if upload is not None:
        text = _upload_paths(settings, upload, text)
        county = county or upload.county
    state = Path(settings.state_dir)
    for spelled in dict.fromkeys((str(state), str(state.resolve()))):
        if county is not None:
            from ..state.tasks import county_key_path

            key = str(county_key_path(spelled, county))
            text = text.replace(key + ".pub", "the county's public key")
            text = re.sub(re.escape(key) + r"(?![\w-]|\.\w)", "the county's signing key", text)
        text = text.replace(spelled + "/", "")
        text = re.sub(re.escape(spelled) + r"(?![\w-]|\.\w)", "the state folder", text)
    return ABSOLUTE.sub(_last_component, text)
