//! The seed's third server (two listening ports, `select.select` on both, the lesson's
//! `hello socket1` / `hello socket2` lines), line for line on `pyselect::select`: the README's
//! tour, compiled.
//!
//! ```text
//! cargo run --example seed_select_server [PORT1 PORT2 [IP]]   # 5050 5060 '' as the seed
//! ```
//!
//! It follows `testkit/fixtures/seed_select_server.py`, the seed's program as the tests run it:
//! the ports and address from the command line (`0` lets the kernel choose), the `elif` typo
//! fixed (`server_socket2 == server_socket2` was always true), each reply naming the port
//! actually bound, and one `seed: listening on` line on stderr once both sockets listen.

use pyselect::{select, Socket};
use pyselect_cli::output::print_line;
use pyselect_cli::pyrepr::{addr_repr, bytes_repr};

fn main() {
    if let Err(e) = run() {
        eprintln!("seed_select_server: {e}");
        std::process::exit(1);
    }
}

fn arg(n: usize, default: &str) -> String {
    std::env::args()
        .nth(n)
        .unwrap_or_else(|| default.to_owned())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    // 접속 정보 설정 (connection settings)
    let ip = arg(3, "");
    let port1: u16 = arg(1, "5050").parse()?;
    let port2: u16 = arg(2, "5060").parse()?;
    const SIZE: usize = 1024;
    let addr1 = (ip.as_str(), port1);
    let addr2 = (ip.as_str(), port2);

    // 서버 소켓1 설정 (server socket 1)
    let server_socket1 = Socket::tcp_v4()?;
    server_socket1.bind(addr1)?; // 주소 바인딩 (bind)
    server_socket1.listen(None)?; // 클라이언트의 요청을 받을 준비 (listen, backlog 128)

    // 서버 소켓2 설정 (server socket 2)
    let server_socket2 = Socket::tcp_v4()?;
    server_socket2.bind(addr2)?;
    server_socket2.listen(None)?;

    // The ports actually bound, and the listening line.
    let port1 = server_socket1.getsockname()?.port();
    let port2 = server_socket2.getsockname()?.port();
    pyselect_cli::output::eprint_line(&format!("seed: listening on {ip}:{port1} {ip}:{port2}"))?;

    // read 소켓 리스트 (the read list)
    let read_socket_list = [&server_socket1, &server_socket2];

    // 무한루프 진입 (the endless loop)
    loop {
        // select 선언: pselect6(5, [3 4], NULL, NULL, NULL, NULL)
        let (conn_read_socket_list, _conn_write_socket_list, _conn_except_socket_list) =
            select(read_socket_list, [], [], None)?;
        for conn_read_socket in conn_read_socket_list {
            // select() hands back the very references given.
            if std::ptr::eq(conn_read_socket, &server_socket1) {
                print_line("hello socket1")?;
                let (mut client_socket, client_addr) = server_socket1.accept()?; // accept4
                let msg = client_socket.recv(SIZE)?; // recvfrom
                print_line(&format!(
                    "[{}] message : {}",
                    addr_repr(&client_addr),
                    bytes_repr(&msg)
                ))?;

                client_socket.sendall(format!("welcome {port1}!").as_bytes())?; // sendto

                client_socket.close()?; // close
            } else if std::ptr::eq(conn_read_socket, &server_socket2) {
                print_line("hello socket2")?;
                let (mut client_socket, client_addr) = server_socket2.accept()?;
                let msg = client_socket.recv(SIZE)?;
                print_line(&format!(
                    "[{}] message : {}",
                    addr_repr(&client_addr),
                    bytes_repr(&msg)
                ))?;

                client_socket.sendall(format!("welcome {port2}!").as_bytes())?;

                client_socket.close()?;
            }
        }
    }
}
