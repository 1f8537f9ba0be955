from aares.cli import app

app(prog_name="aares")
