<?php
// LANMail webspace sender (the seed's "Transmit via Webspace/Own Server").
// Uploaded by `lanmailctl transport webspace upload-scripts`; do not edit here: settings
// live in lanmail-config.php beside this file. Runs on PHP 5.6 to 8.x.
//
// lanmaild uploads each mail as queue/<name>.eml (by SFTP or FTP) and then POSTs
//   password=<script password>  file=<name>.eml  from=<envelope sender>  to=<a,b,...>
// The script sends that file and deletes it, answering "OK" with HTTP 200. Without the
// right password: 403 and nothing happens. Without an uploaded file: 404, nothing is sent
// (knowing the password is not enough to send mail through this script).
// POST password + test=1 checks the set-up (config, queue folder writable): "OK test".

function lm_fail($code, $text)
{
    $protocol = isset($_SERVER['SERVER_PROTOCOL']) ? $_SERVER['SERVER_PROTOCOL'] : 'HTTP/1.0';
    $sapi = substr(php_sapi_name(), 0, 3);
    if ($sapi == 'cgi' || $sapi == 'fpm') {
        header('Status: ' . $code . ' ' . $text);
    } else {
        header($protocol . ' ' . $code . ' ' . $text);
    }
    header('Content-Type: text/plain');
    echo $text . "\n";
    exit;
}

$config_file = dirname(__FILE__) . '/lanmail-config.php';
if (!is_file($config_file)) {
    lm_fail(500, 'lanmail-config.php missing: upload the scripts again');
}
$LANMAIL = array();
include $config_file;
if (!isset($LANMAIL['password_sha256'])) {
    lm_fail(500, 'lanmail-config.php incomplete: upload the scripts again');
}
if ($_SERVER['REQUEST_METHOD'] != 'POST' || !isset($_POST['password'])) {
    lm_fail(403, 'forbidden');
}
if (!hash_equals($LANMAIL['password_sha256'], hash('sha256', (string)$_POST['password']))) {
    lm_fail(403, 'wrong password');
}
$queue = dirname(__FILE__) . '/queue';
if (isset($_POST['test'])) {
    if (!is_dir($queue) || !is_writable($queue)) {
        lm_fail(500, 'the queue folder is missing or not writable by PHP');
    }
    echo "OK test\n";
    exit;
}
// Files left behind (the call that should have sent them never came): gone after a day.
foreach ((array)glob($queue . '/*.eml') as $old) {
    if (is_file($old) && filemtime($old) < time() - 86400) {
        @unlink($old);
    }
}
$name = isset($_POST['file']) ? (string)$_POST['file'] : '';
if (!preg_match('/^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.eml$/', $name)) {
    lm_fail(400, 'bad file name');
}
$path = $queue . '/' . $name;
if (!is_file($path)) {
    lm_fail(404, 'no such mail file');
}
$from = isset($_POST['from']) ? (string)$_POST['from'] : '';
$to = array();
foreach (explode(',', isset($_POST['to']) ? (string)$_POST['to'] : '') as $r) {
    $r = trim($r);
    if ($r !== '') {
        $to[] = $r;
    }
}
foreach (array_merge(array($from), $to) as $a) {
    if ($a !== '' && !preg_match('/^[^\s<>@,;:"\\\\]+@[^\s<>@,;:"\\\\]+$/', $a)) {
        lm_fail(400, 'bad address');
    }
}
if (count($to) == 0) {
    lm_fail(400, 'no recipients');
}
$data = file_get_contents($path);
if ($data === false) {
    lm_fail(500, 'cannot read the mail file');
}
$mailer = isset($LANMAIL['mailer']) ? $LANMAIL['mailer'] : 'mail';
$error = ($mailer == 'smtp') ? lm_send_smtp($LANMAIL, $from, $to, $data)
                             : lm_send_mail($from, $to, $data);
if ($error !== '') {
    lm_fail(502, $error);
}
unlink($path);
echo "OK\n";
exit;

// PHP mail() cannot take an envelope: each recipient gets a copy whose To: names them.
function lm_send_mail($from, $to, $data)
{
    $data = str_replace("\r\n", "\n", $data);
    $pos = strpos($data, "\n\n");
    $head = $pos === false ? $data : substr($data, 0, $pos);
    $body = $pos === false ? '' : substr($data, $pos + 2);
    $subject = '';
    $keep = array();
    $skip = false;
    foreach (explode("\n", $head) as $line) {
        if ($line !== '' && ($line[0] == ' ' || $line[0] == "\t")) {
            if (!$skip) {
                $keep[count($keep) - 1] .= "\n" . $line;
            } elseif ($subject !== '' && $skip === 'subject') {
                $subject .= ' ' . trim($line);
            }
            continue;
        }
        $skip = false;
        if (stripos($line, 'subject:') === 0) {
            $subject = trim(substr($line, 8));
            $skip = 'subject';
        } elseif (stripos($line, 'to:') === 0) {
            $skip = 'to';
        } else {
            $keep[] = $line;
        }
    }
    $params = $from !== '' ? '-f' . $from : '';
    foreach ($to as $r) {
        if (!mail($r, $subject, $body, implode("\r\n", $keep), $params)) {
            return 'mail() failed for ' . $r;
        }
    }
    return '';
}

function lm_read($fp)
{
    $reply = '';
    while (($line = fgets($fp, 1024)) !== false) {
        $reply .= $line;
        if (strlen($line) < 4 || $line[3] != '-') {
            break;
        }
    }
    return $reply;
}

function lm_cmd($fp, $line, $want)
{
    if ($line !== null) {
        fwrite($fp, $line . "\r\n");
    }
    $reply = lm_read($fp);
    if (substr($reply, 0, 1) !== $want) {
        throw new Exception(trim($reply) === '' ? 'connection lost' : trim($reply));
    }
    return $reply;
}

function lm_send_smtp($c, $from, $to, $data)
{
    $host = $c['smtp_host'];
    $port = (int)$c['smtp_port'];
    $tls = $c['smtp_tls'];
    $ctx = stream_context_create(array('ssl' => array('verify_peer' => true,
                                                      'verify_peer_name' => true)));
    $target = ($tls == 'implicit' ? 'ssl://' : 'tcp://') . $host . ':' . $port;
    $fp = @stream_socket_client($target, $errno, $errstr, 30, STREAM_CLIENT_CONNECT, $ctx);
    if (!$fp) {
        return 'cannot connect to ' . $host . ':' . $port . ': ' . $errstr;
    }
    stream_set_timeout($fp, 120);
    try {
        lm_cmd($fp, null, '2');
        $me = isset($_SERVER['SERVER_NAME']) ? $_SERVER['SERVER_NAME'] : 'localhost';
        lm_cmd($fp, 'EHLO ' . $me, '2');
        if ($tls == 'starttls') {
            lm_cmd($fp, 'STARTTLS', '2');
            if (!stream_socket_enable_crypto($fp, true, STREAM_CRYPTO_METHOD_TLS_CLIENT)) {
                throw new Exception('STARTTLS failed');
            }
            lm_cmd($fp, 'EHLO ' . $me, '2');
        }
        if ($c['smtp_user'] !== '') {
            lm_cmd($fp, 'AUTH PLAIN ' . base64_encode("\0" . $c['smtp_user'] . "\0" .
                                                     $c['smtp_password']), '2');
        }
        lm_cmd($fp, 'MAIL FROM:<' . $from . '>', '2');
        foreach ($to as $r) {
            lm_cmd($fp, 'RCPT TO:<' . $r . '>', '2');
        }
        lm_cmd($fp, 'DATA', '3');
        $data = preg_replace('/^\./m', '..', str_replace("\r\n", "\n", $data));
        $data = str_replace("\n", "\r\n", rtrim($data, "\n")) . "\r\n.\r\n";
        fwrite($fp, $data);
        lm_cmd($fp, null, '2');
        lm_cmd($fp, 'QUIT', '2');
    } catch (Exception $e) {
        fclose($fp);
        return 'SMTP: ' . $e->getMessage();
    }
    fclose($fp);
    return '';
}
