-- A PTY turn knows only its session id when it looks for the stored transcript.
CREATE INDEX claude_transcripts_session ON claude_transcripts (session_id) WHERE subpath = '';
