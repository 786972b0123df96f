/*
 * Tests for config.c: the one reader of @path values.  A secret file
 * written on Windows ends in CR LF; the server and `pgws token` must both
 * read the same bytes from it, and a boolean that is neither true nor false
 * must stop both.
 */
#include <sys/wait.h>

#include "unit.h"
#include "../log.c"
#include "../http.c"     /* config.c checks PGWS_ALLOWED_ORIGINS with it */
#include "../config.c"

static char dir[] = "/tmp/pgws-test-config.XXXXXX";

/* Writes n bytes to a file in dir and returns "@path" (static). */
static const char *file_with(const char *name, const char *data, size_t n)
{
	static char at[256];
	char path[200];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, n, f) != n || fclose(f))
		abort();
	snprintf(at, sizeof at, "@%s", path);
	return at;
}

/* config_value on a file holding data; checks the value equals want. */
static void check_file(const char *data, size_t n, const char *want)
{
	size_t len = 99;
	char *v = config_value("PGWS_JWT_SECRET", file_with("v", data, n), &len);

	CHECK_MEM(v, len, want, strlen(want));
	CHECK(v[len] == 0);
	free(v);
}

/* Runs config_load_secret in a child; returns its exit status (0: loaded). */
static int secret_status(void)
{
	pid_t pid = fork();
	int ws;

	if (pid == 0) {
		freopen("/dev/null", "w", stderr);
		config_load_secret();
		_exit(cfg.jwt_secret_len == 0);
	}
	if (pid < 0 || waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws))
		return -1;
	return WEXITSTATUS(ws);
}

int main(void)
{
	size_t len;
	char *v;

	if (!mkdtemp(dir))
		return 1;

	/* One trailing LF dropped, and a CR before it; nothing more. */
	check_file("s3cret\r\n", 8, "s3cret");
	check_file("s3cret\n", 7, "s3cret");
	check_file("s3cret", 6, "s3cret");
	check_file("s3cret\r", 7, "s3cret\r");
	check_file("s3cret\n\n", 8, "s3cret\n");
	check_file("s3cret\r\n\r\n", 10, "s3cret\r\n");
	check_file(" a b \n", 6, " a b ");

	/* A value without @ is taken as it is, CR LF and all. */
	v = config_value("PGWS_JWT_SECRET", "abc\r\n", &len);
	CHECK_MEM(v, len, "abc\r\n", 5);
	free(v);

	/* The secret as the server and `pgws token` load it from CR LF. */
	setenv("PGWS_JWT_SECRET", file_with("s", "0123456789abcdef0123456789abcdef\r\n", 34), 1);
	unsetenv("PGWS_JWT_SECRET_BASE64");
	config_load_secret();
	CHECK_MEM(cfg.jwt_secret, cfg.jwt_secret_len,
	    "0123456789abcdef0123456789abcdef", 32);
	CHECK_EQ_INT(cfg.jwt_base64, 0);
	free(cfg.jwt_secret);
	cfg.jwt_secret = NULL;

	setenv("PGWS_JWT_SECRET_BASE64", "TRUE", 1);
	config_load_secret();
	CHECK_EQ_INT(cfg.jwt_base64, 1);
	free(cfg.jwt_secret);
	cfg.jwt_secret = NULL;

	/* Not true or false: an error (exit 2), not silently false. */
	setenv("PGWS_JWT_SECRET_BASE64", "maybe", 1);
	CHECK_EQ_INT(secret_status(), 2);
	setenv("PGWS_JWT_SECRET_BASE64", "false", 1);
	CHECK_EQ_INT(secret_status(), 0);

	/* Missing, empty, empty file, unreadable file: exit 2. */
	unsetenv("PGWS_JWT_SECRET");
	CHECK_EQ_INT(secret_status(), 2);
	setenv("PGWS_JWT_SECRET", "", 1);
	CHECK_EQ_INT(secret_status(), 2);
	setenv("PGWS_JWT_SECRET", file_with("e", "\r\n", 2), 1);
	CHECK_EQ_INT(secret_status(), 2);
	setenv("PGWS_JWT_SECRET", "@/nonexistent/pgws-secret", 1);
	CHECK_EQ_INT(secret_status(), 2);

	/* SIGHUP's reader: the file again, never an exit. */
	char err[512];
	setenv("PGWS_JWT_SECRET", file_with("r", "second-secret\n", 14), 1);
	v = NULL;
	CHECK_EQ_INT(config_reload_secret(&v, &len, err, sizeof err), 1);
	CHECK(v && len == 13 && !memcmp(v, "second-secret", 13));
	free(v);
	setenv("PGWS_JWT_SECRET", file_with("r", "\n", 1), 1);
	CHECK_EQ_INT(config_reload_secret(&v, &len, err, sizeof err), -1);
	CHECK(strstr(err, "is empty") != NULL && v == NULL);
	setenv("PGWS_JWT_SECRET", "@/nonexistent/pgws-secret", 1);
	CHECK_EQ_INT(config_reload_secret(&v, &len, err, sizeof err), -1);
	CHECK(strstr(err, "PGWS_JWT_SECRET: cannot read /nonexistent/pgws-secret") != NULL);
	setenv("PGWS_JWT_SECRET", "not-a-file", 1);
	CHECK_EQ_INT(config_reload_secret(&v, &len, err, sizeof err), 0);

	/* Every bad value counted, each reported; defaults stand in. */
	setenv("PGWS_DB_URI", "postgres://x@y/z", 1);
	setenv("PGWS_PORT", "abc", 1);
	setenv("PGWS_POOL_SIZE", "0", 1);
	setenv("PGWS_LOG_FORMAT", "xml", 1);
	setenv("PGWS_LOG_LEVEL", "loud", 1);
	FILE *saved = stderr;
	stderr = fopen("/dev/null", "w");
	config_free();
	int n = config_read();
	fclose(stderr);
	stderr = saved;
	CHECK_EQ_INT(n, 4);
	CHECK_EQ_INT(cfg.port, 3000);
	CHECK_EQ_INT(cfg.pool_size, 10);
	CHECK(!strcmp(cfg.log_format, "text"));
	setenv("PGWS_LOG_FORMAT", "JSON", 1);
	unsetenv("PGWS_PORT");
	unsetenv("PGWS_POOL_SIZE");
	unsetenv("PGWS_LOG_LEVEL");
	config_free();
	CHECK_EQ_INT(config_read(), 0);
	CHECK_EQ_INT(log_format, LOG_JSON);
	config_free();
	unsetenv("PGWS_LOG_FORMAT");

	unlink(file_with("r", "", 0) + 1);
	unlink(file_with("v", "", 0) + 1);
	unlink(file_with("s", "", 0) + 1);
	unlink(file_with("e", "", 0) + 1);
	rmdir(dir);
	return unit_done();
}
