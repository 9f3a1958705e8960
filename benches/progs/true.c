/* The static `true` of benches/harness.py: fork+exec+wait and sandbox start
 * to exit run it. */
int main(void) { return 0; }
