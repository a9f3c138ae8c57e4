# Rule G passed: the test parts read once, the shipped tree (/tmp/base) and G (/tmp/g) side by side.
cd /work/main
bash trained/wall-stub/run_test_pair.sh base g trained/wall-stub/test
echo done > trained/wall-stub/test/done
