# MusicEdit: `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_output

.PHONY: install demo test lint format bench clean-demo

install: $(STAMP)

# Re-install whenever the package metadata or the pinned working set changes.
$(STAMP): setup.cfg pyproject.toml constraints.txt
	@echo ">>> Creating $(VENV) with $(PYTHON) and installing musicedit (pinned by constraints.txt) …"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,stems,cluster]'
	touch $(STAMP)

demo: install
	@echo ">>> 1/4 Generating a synthetic raw jam and its polished edit (with ground truth) into $(DEMO_DIR)/training_data"
	$(BIN)/musicedit synth --n 1 --seed 7 --out $(DEMO_DIR)/training_data --plot --overwrite
	@echo ">>> 2/4 Precaching mel, beats and the 121 beat features into $(DEMO_DIR)/cache"
	$(BIN)/musicedit precache --data-dir $(DEMO_DIR)/training_data --cache-dir $(DEMO_DIR)/cache
	@echo ">>> 3/4 Summary and pictures"
	$(BIN)/musicedit info $(DEMO_DIR)/training_data --cache-dir $(DEMO_DIR)/cache --plot $(DEMO_DIR)
	@echo ">>> 4/4 Editing the raw jam with the shipped default model (editor_env/models/default.json, see README)"
	cp $(DEMO_DIR)/training_data/input/synth_0000_raw.wav $(DEMO_DIR)/raw.wav
	$(BIN)/musicedit edit $(DEMO_DIR)/raw.wav -o $(DEMO_DIR)/edited.wav --edl $(DEMO_DIR)/edl.json \
		--report $(DEMO_DIR)/report.html --reference $(DEMO_DIR)/training_data/pointer_sequences/synth_0000_pointers.npy \
		--export audacity,reaper,otio,cue
	@echo ">>> Done. Open $(DEMO_DIR)/report.html (players, before/after waveforms, pointer plot, reward, seams);"
	@echo "    files: $(DEMO_DIR)/raw.wav, $(DEMO_DIR)/edited.wav, $(DEMO_DIR)/edl.json;"
	@echo "    for your own editor: $(DEMO_DIR)/edited.labels.txt (Audacity), edited.rpp (REAPER), edited.otio, edited.cue;"
	@echo "    the reference edit: $(DEMO_DIR)/training_data/desired_output/synth_0000_edit.wav;"
	@echo "    pictures: $(DEMO_DIR)/synth_0000_analysis.png, $(DEMO_DIR)/training_data/pointer_sequences/synth_0000_synth.png"

test: install
	@echo ">>> Running the test suite (CPU, tiny audio)"
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python scripts/bench_precache.py
	$(BIN)/python scripts/bench_beats.py
	$(BIN)/python scripts/bench_env.py
	$(BIN)/python scripts/bench_stems.py
	$(BIN)/python scripts/bench_align.py
	$(BIN)/python scripts/bench_retarget.py
	$(BIN)/python scripts/bench_pointer.py

clean-demo:
	rm -rf $(DEMO_DIR)
