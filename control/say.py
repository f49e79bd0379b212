"""What an operation says as it goes: one line each, `==> ` first, as every make target does."""


def say(line):
    print(f"==> {line}", flush=True)
