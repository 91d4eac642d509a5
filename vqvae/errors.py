"""The one exception type for mistakes a user can make (as opposed to bugs)."""


class VQVAEError(Exception):
    """A problem the user can fix. The message is one line: what is wrong and what to do.

    The CLI prints it and exits with status 2; a page shows it with st.error.
    """
