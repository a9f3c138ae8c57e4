# The benchmark's new sets (digits near a side or at a corner, no print) on the test parts,
# the session's starting tree (/tmp/base) and G2 (/tmp/g2) side by side, one thread each.
cd /work/main
bash trained/wall-stub/run_test_pair.sh base g2 trained/wall-stub/test-bench --only "no print"
echo done > trained/wall-stub/test-bench/done
